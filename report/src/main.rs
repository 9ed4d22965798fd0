use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

/// Turns herdbench results into charts and a markdown recommendation.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record facts about the source (code size, runtime API, MSRV) into a run directory.
    Collect {
        /// The run directory (results/<run-id>).
        #[arg(long)]
        run: PathBuf,
    },
    /// Draw the charts and write the report from a run directory.
    Render {
        /// The run directory [default: the run results/REPORT.md was made from, else the newest whole run under results/ that has meta.json].
        #[arg(long)]
        run: Option<PathBuf>,
        /// The markdown file to write [default: results/REPORT.md for a whole run; a partial
        /// run (one that selected --backend or --scenario) writes <run>/REPORT.md].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print one line: the run's winner and its deciding figure (rate, precision,
    /// confirmation, spread) and the runner-up.
    Verdict {
        /// The run directory (results/<run-id>).
        #[arg(long)]
        run: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Collect { run } => {
            let meta = herd_records::read_meta(&run)?;
            let root = std::env::current_dir()?;
            let facts = report::collect::collect(&root, &meta.backends)?;
            herd_records::write_json(&run.join(herd_records::SOURCE_FILE), &facts)
        }
        Command::Render { run, out } => {
            let run = match run {
                Some(r) => r,
                None => report::default_run(Path::new("results"))?,
            };
            let out = report::report_path(&run, out)?;
            report::generate(&run, &out)?;
            eprintln!(
                "report written to {} (run {})",
                out.display(),
                run.display()
            );
            Ok(())
        }
        Command::Verdict { run } => {
            println!("{}", report::verdict_line(&report::load::Run::load(&run)?));
            Ok(())
        }
    }
}
