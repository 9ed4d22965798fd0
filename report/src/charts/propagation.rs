//! How long an update takes to be visible at servers one, two, ... hops away.

use std::path::Path;

use super::{Axes, Chart, Scale, Series, legend, line_chart};
use crate::load::Run;

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let mut series: Vec<Series> = Vec::new();
    for b in &run.meta.backends {
        let rows: Vec<_> = run
            .propagation
            .iter()
            .filter(|r| r.backend == b.name)
            .collect();
        if rows.is_empty() {
            continue;
        }
        series.push((
            format!("{} p50", legend(b)),
            rows.iter()
                .map(|r| (r.hops as f64, r.p50_us as f64 / 1000.0))
                .collect(),
        ));
        series.push((
            format!("{} p99", legend(b)),
            rows.iter()
                .map(|r| (r.hops as f64, r.p99_us as f64 / 1000.0))
                .collect(),
        ));
    }
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join("propagation.svg");
    let title = "Update propagation by hop distance".to_owned();
    let axes = Axes {
        title: &title,
        x: ("hops from the server that got the IAMAT", Scale::Linear),
        y: ("ms until visible by WHATSAT", Scale::Linear),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources: vec!["propagation.csv".into()],
    }))
}
