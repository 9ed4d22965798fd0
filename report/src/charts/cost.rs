//! Server CPU per command against the offered rate, from the sweep's points: batching makes
//! a command cheaper as the rate rises, and how much is a real difference between runtimes.

use std::path::Path;

use super::{Axes, Chart, Scale, Series, legend, line_chart};
use crate::load::Run;

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let series: Vec<Series> = run
        .meta
        .backends
        .iter()
        .filter_map(|b| {
            // Disturbed points are not data, and a point with no CPU figure measured nothing.
            let mut pts: Vec<(f64, f64)> = run
                .sweep
                .iter()
                .filter(|r| r.backend == b.name && !r.disturbed)
                .filter(|r| r.server_cpu_us_per_command > 0.0)
                .map(|r| (r.target_rate, r.server_cpu_us_per_command))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (!pts.is_empty()).then(|| (legend(b), pts))
        })
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join("cpu-per-command.svg");
    let title = "Server CPU per IAMAT against offered rate".to_owned();
    let axes = Axes {
        title: &title,
        x: ("offered IAMAT/s", Scale::Linear),
        y: ("server CPU µs per command, all servers", Scale::Linear),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources: vec!["sweep.csv".into()],
    }))
}
