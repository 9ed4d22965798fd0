use clap::Parser;
use herd_launcher::Profile;

/// Runs the herd conformance suite against one backend or all of them.
///
/// Backends are found by their `backend.toml` manifests; each is built with the manifest's
/// build command first. Prints one line per case and a summary; exits non-zero if any
/// case fails. Accepts the usual test-runner flags (e.g. --test-threads 1, --list).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Only this backend (its manifest `name`, e.g. tokio).
    #[arg(long)]
    backend: Option<String>,
    /// Only cases whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Cargo profile to build and run: dev or release.
    #[arg(long, default_value = "dev", value_parser = ["dev", "release"])]
    profile: String,
    /// Only the hostile cases (scripts/hostile records them per backend).
    #[arg(long)]
    hostile: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let profile = if args.profile == "release" {
        Profile::Release
    } else {
        Profile::Dev
    };
    let mut run_args = libtest_mimic::Arguments {
        filter: args.filter,
        test_threads: Some(2),
        ..Default::default()
    };
    run_args.quiet = false;
    match herd_conformance::trials(profile, args.backend.as_deref()) {
        Ok(mut trials) => {
            if args.hostile {
                let names = herd_conformance::hostile_names();
                trials.retain(|t| {
                    t.name()
                        .split_once("::")
                        .is_some_and(|(_, case)| names.contains(&case))
                });
            }
            libtest_mimic::run(&run_args, trials).exit_code()
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
