//! Server CPU time per command in each fixed-rate scenario: scenarios by name on the x axis,
//! one bar per backend in each.

use std::path::Path;

use herd_records::Scenario;

use super::{Bars, Chart, grouped_bars, legend};
use crate::load::Run;
use crate::stats::scenario_stats;

/// The fixed-rate scenarios whose rows carry a CPU cost per command, in the suite's order.
const SCENARIOS: [Scenario; 4] = [
    Scenario::Iamat,
    Scenario::Whatsat,
    Scenario::Mixed,
    Scenario::Churn,
];

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let stats = scenario_stats(&run.summary);
    // Only the scenarios this run measured get a group.
    let scenarios: Vec<Scenario> = SCENARIOS
        .into_iter()
        .filter(|s| stats.keys().any(|(_, k)| k == s))
        .collect();
    let series: Vec<Bars> = run
        .meta
        .backends
        .iter()
        .map(|b| {
            let values = scenarios
                .iter()
                .map(|s| {
                    stats
                        .get(&(b.name.clone(), *s))
                        .map(|st| st.cpu_us_per_command.median)
                })
                .collect::<Vec<_>>();
            (legend(b), values)
        })
        .filter(|(_, v)| v.iter().any(Option::is_some))
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join("cpu.svg");
    let title = "Server CPU per command, by scenario (median of repetitions)".to_owned();
    let groups: Vec<String> = scenarios.iter().map(|s| s.to_string()).collect();
    grouped_bars(
        &file,
        &title,
        "CPU µs per command, all servers",
        &groups,
        &series,
    )?;
    Ok(Some(Chart {
        file,
        title,
        sources: vec!["summary.csv".into()],
    }))
}
