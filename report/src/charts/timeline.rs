//! Second by second through one run: the per-second p99 of the mixed scenario.

use std::path::Path;

use super::{Axes, Chart, Scale, Series, legend, line_chart};
use crate::load::Run;
use herd_records::Scenario;

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let scenario = [Scenario::Mixed, Scenario::Iamat]
        .into_iter()
        .find(|s| run.timeline.iter().any(|r| r.scenario == *s));
    let Some(scenario) = scenario else {
        return Ok(None);
    };
    let series: Vec<Series> = run
        .meta
        .backends
        .iter()
        .map(|b| {
            let pts = run
                .timeline
                .iter()
                .filter(|r| r.backend == b.name && r.scenario == scenario && r.repetition == 0)
                // A disturbed repetition is not data.
                .filter(|r| {
                    !run.summary.iter().any(|s| {
                        s.disturbed
                            && s.backend == r.backend
                            && s.scenario == r.scenario
                            && s.repetition == r.repetition
                            && s.target_rate == r.target_rate
                    })
                })
                .map(|r| (f64::from(r.second), r.p99_us as f64 / 1000.0))
                .collect::<Vec<_>>();
            (legend(b), pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let file = dir.join("timeline.svg");
    let title = format!("Per-second p99 through the {scenario} run (repetition 0)");
    let axes = Axes {
        title: &title,
        x: ("second of the measured window", Scale::Linear),
        y: ("p99 latency that second, ms", Scale::Linear),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources: vec!["timeline.csv".into()],
    }))
}
