//! The report: a herdbench run's records in, charts and a markdown recommendation out.
//!
//! A pipeline in four steps, each its own module: [`load`] reads `results/<run-id>/`,
//! [`stats`] computes the numbers and makes every judgement: the recommendation rule, the
//! thresholds of pros and cons, the instrument's headroom, what was disturbed, failed or not
//! measured (pure, unit-tested), [`charts`] draws SVGs (one file per chart kind) and
//! [`markdown`] renders the text (pure, pinned by a golden file). [`collect`]
//! records facts about the source (code size, runtime API, MSRV) into the run when it is
//! made, so regenerating the report reads only the results directory.
//!
//! It measures nothing and invents nothing: a number it prints is a number a file holds.

pub mod charts;
pub mod collect;
pub mod languages;
pub mod load;
pub mod markdown;
pub mod reliability;
pub mod single;
pub mod stats;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

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

/// Where the report of the run in `run_dir` goes: `out` if given, else `REPORT.md` beside the
/// runs (the project's report) for a whole run, and inside the run directory for a partial
/// one. A partial run is never written over the project's report: it did not measure what
/// that report states.
/// One line naming a run's winner and its deciding figure (what `scripts/bench-repeat`
/// prints per run, so runs can be compared at a glance).
pub fn verdict_line(run: &load::Run) -> String {
    let limits = stats::sustainable(&run.sustainable, &run.sweep);
    let idle = stats::idle_bytes_per_connection(&run.idle);
    let candidates = stats::candidates(&run.meta.backends, &limits, &idle);
    let id = &run.meta.run_id;
    let winner = match stats::recommend(&candidates).0 {
        stats::Recommendation::Winner {
            winner,
            runner_up,
            tie,
        } => (winner, runner_up, tie),
        stats::Recommendation::NoCandidate => return format!("{id}: no maintained candidate"),
        stats::Recommendation::NotMeasured => return format!("{id}: the sweep was not run"),
        stats::Recommendation::NoneSustained => return format!("{id}: none sustained"),
    };
    let (w, runner_up, tie) = winner;
    let mut line = format!("{id}: winner {}", w.backend);
    if let Some(l) = limits.get(&w.backend) {
        line += &format!(" at {:.0}/s", l.rate);
        if let Some(p) = l.precision {
            line += &format!(" (found to {:.1}%", p * 100.0);
        } else {
            line += " (no failure found above it";
        }
        line += &match (stats::confirmed(l), l.spread) {
            (Some(true), Some(s)) => format!(
                ", confirmed {}/{}, spread {:.1}%)",
                l.passed,
                l.repetitions,
                (s - 1.0) * 100.0
            ),
            (Some(false), _) => format!(", NOT confirmed: {}/{})", l.passed, l.repetitions),
            _ => ", stepped sweep, no confirmation)".to_owned(),
        };
    }
    if let Some(r) = runner_up {
        line += &format!(
            "; runner-up {} at {:.0}/s{}",
            r.backend,
            r.sustainable_rate.unwrap_or(0.0),
            if tie {
                " (a tie, decided by memory)"
            } else {
                ""
            }
        );
    }
    line
}

pub fn report_path(run_dir: &Path, out: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let meta = herd_records::read_meta(run_dir)?;
    let partial = stats::selection(&meta.command_line).partial();
    let results = run_dir.parent().unwrap_or(Path::new("."));
    let project_report = results.join("REPORT.md");
    let Some(out) = out else {
        return Ok(if partial {
            run_dir.join("REPORT.md")
        } else {
            project_report
        });
    };
    let same = |a: &Path, b: &Path| {
        let canonical = |p: &Path| {
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .canonicalize()
                .ok()
                .map(|d| d.join(p.file_name().unwrap_or_default()))
        };
        canonical(a).is_some_and(|a| Some(a) == canonical(b))
    };
    if partial && same(&out, &project_report) {
        bail!(
            "{} is a partial run (it selected backends or scenarios); its report goes inside it ({}), not over {}",
            run_dir.display(),
            run_dir.join("REPORT.md").display(),
            out.display()
        );
    }
    Ok(out)
}

/// How a report names the run it was rendered from: this, then `<run-id>/`.
pub const GENERATED_FROM: &str = "Generated by `scripts/report` from `results/";

/// The run `scripts/report` re-renders when none is named: the one the committed
/// `results/REPORT.md` was made from (so adding another run under `results/` does not change
/// what regenerating the committed report means), else the newest whole run.
pub fn default_run(results: &Path) -> anyhow::Result<PathBuf> {
    let named = std::fs::read_to_string(results.join("REPORT.md"))
        .ok()
        .and_then(|text| {
            let rest = &text[text.find(GENERATED_FROM)? + GENERATED_FROM.len()..];
            Some(results.join(&rest[..rest.find('/')?]))
        })
        .filter(|run| run.join(herd_records::META_FILE).is_file());
    match named {
        Some(run) => Ok(run),
        None => newest_run(results),
    }
}

/// The newest whole run under `results` (one with `meta.json` that selected no backends or
/// scenarios), else the newest run of any kind. Run directories are named by UTC time, so
/// the newest sorts last.
pub fn newest_run(results: &Path) -> anyhow::Result<PathBuf> {
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
    let whole = runs.iter().rev().find(|p| {
        herd_records::read_meta(p).is_ok_and(|m| !stats::selection(&m.command_line).partial())
    });
    whole.cloned().or_else(|| runs.pop()).with_context(|| {
        format!(
            "no run with meta.json under {}; run scripts/bench-all first",
            results.display()
        )
    })
}
