//! The single scenario: each backend's server alone as a share of the ceiling responder,
//! and the rate it keeps with its log on, grouped by shape, with the target lines.

use std::path::Path;

use super::{Bars, Chart, grouped_bars_with_targets, legend};
use crate::load::Run;
use crate::single::{self, BEST_SHARE, EVERY_SHARE, LOG_KEEPS, Single};
use crate::stats::Spread;

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Vec<Chart>> {
    if run.single.is_empty() {
        return Ok(Vec::new());
    }
    let order: Vec<String> = run.meta.backends.iter().map(|b| b.name.clone()).collect();
    let singles = single::single(&run.single, &run.summary, &order, run.meta.server_logs);
    let groups = vec!["strict".to_owned(), "pipelined".to_owned()];
    let bars = |pick: fn(&Single) -> [Option<Spread>; 2]| -> Vec<Bars> {
        run.meta
            .backends
            .iter()
            .filter_map(|b| {
                let s = singles.iter().find(|s| s.backend == b.name)?;
                let values: Vec<Option<f64>> =
                    pick(s).iter().map(|x| x.map(|x| x.median)).collect();
                values
                    .iter()
                    .any(Option::is_some)
                    .then(|| (legend(b), values))
            })
            .collect()
    };
    let mut charts = Vec::new();
    let share = bars(|s| s.share);
    if !share.is_empty() {
        let file = dir.join("single-share.svg");
        let title = "One server alone, share of the ceiling responder (median)".to_owned();
        grouped_bars_with_targets(
            &file,
            &title,
            ("closed-loop shape", "rate / ceiling's rate, log off"),
            &groups,
            &share,
            &[
                (
                    format!("best at least {:.1} / {:.1}", BEST_SHARE[0], BEST_SHARE[1]),
                    BEST_SHARE.iter().map(|&t| Some(t)).collect(),
                ),
                (
                    format!("every backend at least {EVERY_SHARE:.1}"),
                    vec![Some(EVERY_SHARE); 2],
                ),
            ],
        )?;
        charts.push(Chart {
            file,
            title,
            sources: vec!["single.csv".into()],
        });
    }
    let kept = bars(|s| s.log_kept);
    if !kept.is_empty() {
        let file = dir.join("single-log.svg");
        let title = "One server alone, rate kept with the log on (median)".to_owned();
        grouped_bars_with_targets(
            &file,
            &title,
            ("closed-loop shape", "rate log on / rate log off"),
            &groups,
            &kept,
            &[(format!("at least {LOG_KEEPS:.1}"), vec![Some(LOG_KEEPS); 2])],
        )?;
        charts.push(Chart {
            file,
            title,
            sources: vec!["single.csv".into()],
        });
    }
    Ok(charts)
}
