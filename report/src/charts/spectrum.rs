//! Latency by percentile, HDR style: the tail stretched out on a log axis of 1/(1-p).

use std::path::Path;

use super::{Axes, Chart, Scale, Series, line_chart};
use crate::load::Run;

pub(crate) fn draw(run: &Run, dir: &Path, scenario: &str) -> anyhow::Result<Option<Chart>> {
    let mut series: Vec<Series> = Vec::new();
    let mut sources = Vec::new();
    for backend in run.meta.backends.iter().map(|b| &b.name) {
        // Repetition 0 of the scenario's fixed rate stands for the backend.
        let prefix = format!("{backend}-{scenario}-");
        let Some((stem, points)) = run
            .spectra
            .iter()
            .find(|(s, _)| s.starts_with(&prefix) && s.ends_with("-r0"))
        else {
            continue;
        };
        let pts = points
            .iter()
            .filter(|p| p.percentile < 1.0)
            .map(|p| (1.0 / (1.0 - p.percentile), p.value_ms))
            .collect();
        series.push((backend.clone(), pts));
        sources.push(format!("hgrm/{stem}.hgrm"));
    }
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join(format!("spectrum-{scenario}.svg"));
    let title = format!("Latency by percentile, {scenario} scenario (repetition 0)");
    let axes = Axes {
        title: &title,
        x: (
            "1/(1-percentile): 10 = p90, 100 = p99, 1000 = p99.9",
            Scale::Log10,
        ),
        y: ("latency, ms", Scale::Log10),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources,
    }))
}
