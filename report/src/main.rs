use std::path::{Path, PathBuf};

use anyhow::Context;
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
        /// The run directory [default: the newest run under results/ that has meta.json].
        #[arg(long)]
        run: Option<PathBuf>,
        /// The markdown file to write.
        #[arg(long, default_value = "results/REPORT.md")]
        out: PathBuf,
    },
}

fn newest_run(results: &Path) -> anyhow::Result<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(results)
        .with_context(|| {
            format!(
                "no {} directory; run scripts/bench-all first",
                results.display()
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(herd_records::META_FILE).is_file())
        .collect();
    runs.sort();
    runs.pop().with_context(|| {
        format!(
            "no run with meta.json under {}; run scripts/bench-all first",
            results.display()
        )
    })
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Collect { run } => {
            let meta = herd_records::read_meta(&run)?;
            let root = std::env::current_dir()?;
            let backends: Vec<(String, String)> = meta
                .backends
                .iter()
                // Source facts (cargo tree, MSRV, runtime API) exist for Rust crates only.
                .filter(|b| b.language == "Rust")
                .map(|b| (b.name.clone(), format!("herd-{}", b.name)))
                .collect();
            let facts = report::collect::collect(&root, &backends)?;
            herd_records::write_json(&run.join(herd_records::SOURCE_FILE), &facts)
        }
        Command::Render { run, out } => {
            let run = match run {
                Some(r) => r,
                None => newest_run(Path::new("results"))?,
            };
            report::generate(&run, &out)?;
            eprintln!(
                "report written to {} (run {})",
                out.display(),
                run.display()
            );
            Ok(())
        }
    }
}
