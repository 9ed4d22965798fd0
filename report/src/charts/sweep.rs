//! Throughput against p99 latency as the offered rate rises.

use std::path::Path;

use super::{Axes, Chart, Scale, Series, line_chart};
use crate::load::Run;

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let series: Vec<Series> = run
        .meta
        .backends
        .iter()
        .map(|b| {
            (
                b.name.clone(),
                run.sweep
                    .iter()
                    .filter(|r| r.backend == b.name)
                    .map(|r| (r.achieved_rate, r.p99_us as f64 / 1000.0))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, pts)| !pts.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join("sweep.svg");
    let title = format!(
        "IAMAT throughput against p99 (objective {} ms)",
        run.meta.p99_objective_us / 1000
    );
    let axes = Axes {
        title: &title,
        x: ("achieved IAMAT/s", Scale::Linear),
        y: ("p99 latency, ms (median of repetitions)", Scale::Log10),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources: vec!["sweep.csv".into()],
    }))
}
