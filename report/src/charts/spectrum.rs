//! Latency by percentile, HDR style: the tail stretched out on a log axis of 1/(1-p).

use std::path::Path;

use herd_records::Scenario;

use super::{Axes, Chart, Scale, Series, legend, line_chart};
use crate::load::Run;

pub(crate) fn draw(run: &Run, dir: &Path, scenario: Scenario) -> anyhow::Result<Option<Chart>> {
    let mut series: Vec<Series> = Vec::new();
    let mut sources = Vec::new();
    for b in &run.meta.backends {
        // The first repetition that was not disturbed stands for the backend.
        let rep = run
            .summary
            .iter()
            .filter(|r| r.backend == b.name && r.scenario == scenario && !r.disturbed)
            .map(|r| r.repetition)
            .min();
        let Some(rep) = rep else {
            continue;
        };
        let prefix = format!("{}-{scenario}-", b.name);
        let suffix = format!("-r{rep}");
        let Some((stem, points)) = run
            .spectra
            .iter()
            .find(|(s, _)| s.starts_with(&prefix) && s.ends_with(&suffix))
        else {
            continue;
        };
        let pts = points
            .iter()
            .filter(|p| p.percentile < 1.0)
            .map(|p| (1.0 / (1.0 - p.percentile), p.value_ms))
            .collect();
        series.push((legend(b), pts));
        sources.push(format!("hgrm/{stem}.hgrm"));
    }
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join(format!("spectrum-{scenario}.svg"));
    let title =
        format!("Latency by percentile, {scenario} scenario (first undisturbed repetition)");
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
