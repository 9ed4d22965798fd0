//! Throughput against p99 latency as the offered rate rises: every point the search measured,
//! in order of rate, with each backend's found limit ringed.

use std::path::Path;

use super::{Axes, Chart, Mark, Scale, Series, legend, marked_line_chart};
use crate::load::Run;
use crate::stats::sustainable;

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let limits = sustainable(&run.sustainable, &run.sweep);
    let mut series: Vec<Series> = Vec::new();
    let mut marks: Vec<Mark> = Vec::new();
    for b in &run.meta.backends {
        // A search measures out of order (ramp, then bisection): the line follows the rate.
        // Disturbed points are not data.
        let mut pts: Vec<(f64, f64)> = run
            .sweep
            .iter()
            .filter(|r| r.backend == b.name && !r.disturbed)
            .map(|r| (r.achieved_rate, r.p99_us as f64 / 1000.0))
            .collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(l) = limits.get(&b.name).filter(|l| l.rate > 0.0) {
            // Where the line passes the limit: the measured point at that offered rate.
            let at = run
                .sweep
                .iter()
                .find(|r| r.backend == b.name && !r.disturbed && r.target_rate == l.rate)
                .map_or(l.rate, |r| r.achieved_rate);
            marks.push(Mark {
                series: series.len(),
                at: (at, l.p99_us as f64 / 1000.0),
            });
        }
        series.push((legend(b), pts));
    }
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join("sweep.svg");
    let title = format!(
        "IAMAT throughput against p99 (objective {} ms), found limits ringed",
        run.meta.p99_objective_us / 1000
    );
    let axes = Axes {
        title: &title,
        x: ("achieved IAMAT/s", Scale::Linear),
        y: ("p99 latency, ms (median of repetitions)", Scale::Log10),
    };
    marked_line_chart(&file, &axes, &series, &marks, "found limit")?;
    let mut sources = vec!["sweep.csv".to_owned()];
    if !run.sustainable.is_empty() {
        sources.push("sustainable.csv".into());
    }
    Ok(Some(Chart {
        file,
        title,
        sources,
    }))
}
