//! Reliability charts: the spectrum of recovery times after faults, and the soak's memory
//! and open descriptors over time (summed over each backend's servers), and its memory over
//! the growth window relative to where the window started.

use std::path::Path;

use super::{Axes, Chart, Scale, Series, legend, line_chart};
use crate::load::Run;
use crate::reliability::{SOAK_GROWTH_TARGET_PCT, recovery_times};

pub(crate) fn draw(run: &Run, dir: &Path) -> anyhow::Result<Vec<Chart>> {
    let mut charts = Vec::new();
    charts.extend(recovery(run, dir)?);
    charts.extend(soak(run, dir, Soak::Memory)?);
    charts.extend(soak(run, dir, Soak::Fds)?);
    charts.extend(soak(run, dir, Soak::Growth)?);
    Ok(charts)
}

/// Recovery time against percentile of cycles, one line per backend.
fn recovery(run: &Run, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let rel = &run.reliability;
    let mut series: Vec<Series> = Vec::new();
    for b in &run.meta.backends {
        let times = recovery_times(&rel.faults, &b.name);
        let n = times.len() as f64;
        let pts: Vec<(f64, f64)> = times
            .iter()
            .enumerate()
            .map(|(i, &ms)| (100.0 * (i as f64 + 1.0) / n, ms))
            .collect();
        if !pts.is_empty() {
            series.push((legend(b), pts));
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    let file = dir.join("fault-recovery.svg");
    let title = "Recovery after a fault: heal until every server agrees".to_owned();
    let axes = Axes {
        title: &title,
        x: ("percentile of fault cycles", Scale::Linear),
        y: ("recovery time (ms)", Scale::Linear),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources: vec![herd_records::FAULTS_FILE.into()],
    }))
}

#[derive(Clone, Copy)]
enum Soak {
    Memory,
    Fds,
    /// Memory over the growth window as a percentage of the window's start (the sum of the
    /// servers' `rss_start_kib`, the same baseline `soak-growth.csv` judges against).
    Growth,
}

/// Resident memory (MiB) or open fds, summed over a backend's servers, per sample time.
fn soak(run: &Run, dir: &Path, what: Soak) -> anyhow::Result<Option<Chart>> {
    let mut series: Vec<Series> = Vec::new();
    for b in &run.meta.backends {
        // The growth chart's window and baseline, as soak-growth.csv recorded them.
        let (window_start, baseline_kib) = match what {
            Soak::Growth => {
                let rows = run
                    .reliability
                    .soak_growth
                    .iter()
                    .filter(|g| g.backend == b.name);
                let (start, kib) = rows.fold((0.0, 0.0), |(s, k), g| {
                    (f64::max(s, g.window_start_s), k + g.rss_start_kib)
                });
                if kib <= 0.0 {
                    continue;
                }
                (start, kib)
            }
            Soak::Memory | Soak::Fds => (0.0, 0.0),
        };
        let mut pts: Vec<(f64, f64)> = Vec::new();
        for s in run.reliability.soak.iter().filter(|s| s.backend == b.name) {
            let v = match what {
                Soak::Memory => s.rss_kib as f64 / 1024.0,
                Soak::Fds => s.fds as f64,
                Soak::Growth if s.t_s < window_start => continue,
                Soak::Growth => s.rss_kib as f64 / baseline_kib * 100.0,
            };
            // Samples of one round share their time; rows come in time order.
            match pts.last_mut() {
                Some((t, sum)) if *t == s.t_s => *sum += v,
                _ => pts.push((s.t_s, v)),
            }
        }
        if !pts.is_empty() {
            series.push((legend(b), pts));
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    if matches!(what, Soak::Growth) {
        // The target as a line across the window, which also keeps it in view.
        let xs = series.iter().flat_map(|(_, p)| p.iter().map(|&(x, _)| x));
        let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let limit = 100.0 + SOAK_GROWTH_TARGET_PCT;
        series.push((
            format!("target: {limit:.0}%"),
            vec![(x0, limit), (x1, limit)],
        ));
    }
    let (file, title, y) = match what {
        Soak::Memory => (
            "soak-memory.svg",
            "Soak: resident memory over time (all servers)",
            "RSS (MiB, sum over servers)",
        ),
        Soak::Fds => (
            "soak-fds.svg",
            "Soak: open file descriptors over time (all servers)",
            "open fds (sum over servers)",
        ),
        Soak::Growth => (
            "soak-growth.svg",
            "Soak: memory over the growth window, % of its start",
            "RSS, % of the window's start (sum over servers)",
        ),
    };
    let title = match what {
        Soak::Growth => format!(
            "{title} (target: end at most {:.0}%)",
            100.0 + SOAK_GROWTH_TARGET_PCT
        ),
        Soak::Memory | Soak::Fds => title.to_owned(),
    };
    let file = dir.join(file);
    let axes = Axes {
        title: &title,
        x: ("seconds since the load started", Scale::Linear),
        y: (
            y,
            match what {
                Soak::Growth => Scale::Fitted,
                _ => Scale::Linear,
            },
        ),
    };
    line_chart(&file, &axes, &series)?;
    Ok(Some(Chart {
        file,
        title,
        sources: match what {
            Soak::Growth => vec![
                herd_records::SOAK_FILE.into(),
                herd_records::SOAK_GROWTH_FILE.into(),
            ],
            _ => vec![herd_records::SOAK_FILE.into()],
        },
    }))
}
