use std::process::ExitCode;

fn main() -> ExitCode {
    // Each of `--threads` threads builds its own compio runtime inside `serve`.
    herd_shell::run(herd_compio::serve)
}
