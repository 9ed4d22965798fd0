//! The report: a herdbench run's records in, charts and a markdown recommendation out.
//!
//! A pipeline in four steps, each its own module: [`load`] reads `results/<run-id>/`,
//! [`stats`] computes the numbers and applies the recommendation rule (pure), [`charts`]
//! draws SVGs (one file per chart kind) and [`markdown`] renders the text (pure). [`collect`]
//! records facts about the source (code size, runtime API, MSRV) into the run when it is
//! made, so regenerating the report reads only the results directory.
//!
//! It measures nothing and invents nothing: a number it prints is a number a file holds.

pub mod charts;
pub mod collect;
pub mod languages;
pub mod load;
pub mod markdown;
pub mod stats;

use std::path::Path;

/// Loads the run in `run_dir`, draws its charts into `run_dir/charts`, and writes the
/// markdown to `report_file` (chart links are relative to it).
pub fn generate(run_dir: &Path, report_file: &Path) -> anyhow::Result<()> {
    let run = load::Run::load(run_dir)?;
    let charts = charts::draw_all(&run, &run_dir.join("charts"))?;
    let base = report_file.parent().unwrap_or(Path::new("."));
    let rel = run_dir.strip_prefix(base).unwrap_or(run_dir).join("charts");
    let text = markdown::render(&run, &charts, &rel.display().to_string());
    std::fs::write(report_file, text)?;
    Ok(())
}
