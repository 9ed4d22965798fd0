use std::process::ExitCode;

fn main() -> ExitCode {
    herd_shell::run(herd_threads::serve)
}
