//! Server CPU time per 1,000 commands in each fixed-rate scenario.

use std::path::Path;

use super::{Axes, Chart, Scale, Series, line_chart};
use crate::load::Run;
use crate::stats::scenario_stats;

/// Scenario order on the x axis.
pub(crate) const SCENARIOS: [&str; 4] = ["iamat", "whatsat", "mixed", "churn"];

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let stats = scenario_stats(&run.summary);
    let series: Vec<Series> = run
        .meta
        .backends
        .iter()
        .map(|b| {
            let pts = SCENARIOS
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    stats
                        .get(&(b.name.clone(), (*s).to_owned()))
                        .map(|st| ((i + 1) as f64, st.cpu_ms_per_1000.median))
                })
                .collect::<Vec<_>>();
            (b.name.clone(), pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join("cpu.svg");
    let title = "Server CPU per 1,000 commands (1 iamat, 2 whatsat, 3 mixed, 4 churn)".to_owned();
    let axes = Axes {
        title: &title,
        x: ("scenario", Scale::Linear),
        y: ("CPU ms per 1,000 commands, all servers", Scale::Linear),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources: vec!["summary.csv".into()],
    }))
}
