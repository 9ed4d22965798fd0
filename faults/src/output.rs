//! Result files of a run directory; the schema is in docs/RELIABILITY-FAULTS.md.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::scenario::Outcome;
use crate::soak::{SoakOutcome, TARGET_GROWTH_PCT};

/// Nearest-rank percentile of sorted values (`p` in 0..=100); `None` if empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
        .unwrap_or_default()
}

/// `Clark:2 Jaquez:1`: how many lost updates each server had acknowledged.
fn acked_by(servers: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in servers {
        match counts.last_mut() {
            Some((last, n)) if *last == s.as_str() => *n += 1,
            _ => counts.push((s, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s}:{n}")).collect();
    parts.join(" ")
}

fn writer(path: &Path) -> anyhow::Result<csv::Writer<std::fs::File>> {
    csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))
}

/// `faults.csv` (one row per backend and scenario) and `recovery.csv` (one row per cycle).
pub fn write_faults(dir: &Path, outcomes: &[Outcome]) -> anyhow::Result<()> {
    let mut summary = writer(&dir.join("faults.csv"))?;
    summary.write_record([
        "backend",
        "scenario",
        "faults",
        "cycles",
        "acknowledged",
        "sent",
        "failed",
        "lost",
        "stale",
        "recovered",
        "timed_out",
        "recovery_p50_ms",
        "recovery_p90_ms",
        "recovery_p99_ms",
        "recovery_max_ms",
    ])?;
    let mut each = writer(&dir.join("recovery.csv"))?;
    each.write_record([
        "backend",
        "scenario",
        "cycle",
        "fault",
        "faults",
        "recovery_ms",
        "lost",
        "stale",
        "lost_acked_by",
    ])?;
    for o in outcomes {
        let mut times: Vec<Duration> = o.cycles.iter().filter_map(|c| c.recovered).collect();
        times.sort();
        let t = o.tally();
        let p = |q| ms(percentile(&times, q));
        summary.write_record([
            o.backend.clone(),
            o.scenario.name().to_owned(),
            o.faults().to_string(),
            o.cycles.len().to_string(),
            o.acked.to_string(),
            o.sent.to_string(),
            o.failed.to_string(),
            t.lost.to_string(),
            t.stale.to_string(),
            times.len().to_string(),
            (o.cycles.len() - times.len()).to_string(),
            p(50.0),
            p(90.0),
            p(99.0),
            p(100.0),
        ])?;
        for (i, c) in o.cycles.iter().enumerate() {
            each.write_record([
                o.backend.clone(),
                o.scenario.name().to_owned(),
                i.to_string(),
                c.what.clone(),
                c.faults.to_string(),
                ms(c.recovered),
                c.tally.lost.to_string(),
                c.tally.stale.to_string(),
                acked_by(&c.lost_acked_by),
            ])?;
        }
    }
    summary.flush()?;
    each.flush()?;
    Ok(())
}

/// `soak.csv` (every sample of every backend) and `soak-growth.csv` (one row per backend
/// and server).
pub fn write_soak(dir: &Path, outcomes: &[SoakOutcome]) -> anyhow::Result<()> {
    let mut all = writer(&dir.join("soak.csv"))?;
    all.write_record(["backend", "t_s", "server", "pid", "rss_kib", "fds"])?;
    let mut g = writer(&dir.join("soak-growth.csv"))?;
    g.write_record([
        "backend",
        "server",
        "window_start_s",
        "rss_start_kib",
        "rss_end_kib",
        "rss_growth_pct",
        "fds_start",
        "fds_end",
        "fds_growth_pct",
        "within_target",
    ])?;
    for o in outcomes {
        for s in &o.samples {
            all.write_record([
                o.backend.clone(),
                format!("{:.1}", s.at.as_secs_f64()),
                s.server.clone(),
                s.pid.to_string(),
                s.rss_kib.to_string(),
                s.fds.to_string(),
            ])?;
        }
        for x in &o.growth {
            g.write_record([
                o.backend.clone(),
                x.server.clone(),
                format!("{:.1}", x.window_start.as_secs_f64()),
                format!("{:.0}", x.rss_start),
                format!("{:.0}", x.rss_end),
                format!("{:.2}", x.rss_pct),
                format!("{:.1}", x.fds_start),
                format!("{:.1}", x.fds_end),
                format!("{:.2}", x.fds_pct),
                x.within(TARGET_GROWTH_PCT).to_string(),
            ])?;
        }
    }
    all.flush()?;
    g.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        let p = |q| percentile(&v, q).map(|d| d.as_millis());
        assert_eq!(p(50.0), Some(5));
        assert_eq!(p(90.0), Some(9));
        assert_eq!(p(99.0), Some(10));
        assert_eq!(p(100.0), Some(10));
        assert_eq!(p(0.0), Some(1));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn lost_updates_are_counted_per_acknowledging_server() {
        let servers: Vec<String> = ["A", "A", "C"].map(String::from).into();
        assert_eq!(acked_by(&servers), "A:2 C:1");
        assert_eq!(acked_by(&[]), "");
    }
}
