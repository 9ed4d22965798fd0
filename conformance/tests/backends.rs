//! `cargo test` entry: the whole suite against every backend that has a manifest.

use libtest_mimic::Arguments;

fn main() -> std::process::ExitCode {
    let mut args = Arguments::from_args();
    // Each trial runs a whole herd; two at a time keeps a 2-core machine responsive.
    args.test_threads = args.test_threads.or(Some(2));
    match herd_conformance::trials(herd_launcher::Profile::Dev, None) {
        Ok(trials) => libtest_mimic::run(&args, trials).exit_code(),
        Err(e) => {
            eprintln!("conformance suite could not start: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
