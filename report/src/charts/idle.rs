//! Resident memory per idle connection as the connection count grows.

use std::path::Path;

use super::{Axes, Chart, Scale, Series, legend, line_chart};
use crate::load::Run;
use crate::stats::spread;

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let mut series: Vec<Series> = Vec::new();
    for b in &run.meta.backends {
        let mut counts: Vec<usize> = run
            .idle
            .iter()
            .filter(|r| r.backend == b.name)
            .map(|r| r.connections)
            .collect();
        counts.sort_unstable();
        counts.dedup();
        let pts: Vec<(f64, f64)> = counts
            .iter()
            .map(|&k| {
                (
                    k as f64,
                    spread(
                        run.idle
                            .iter()
                            .filter(|r| r.backend == b.name && r.connections == k)
                            .map(|r| r.bytes_per_connection),
                    )
                    .median
                        / 1024.0,
                )
            })
            .collect();
        if !pts.is_empty() {
            series.push((legend(b), pts));
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join("idle-memory.svg");
    let title = "Resident memory per idle connection (all servers)".to_owned();
    let axes = Axes {
        title: &title,
        x: ("open connections", Scale::Linear),
        y: ("KiB per connection (median)", Scale::Linear),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources: vec!["idle.csv".into()],
    }))
}
