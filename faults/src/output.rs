//! Result files of a run directory, as `herd_records` defines them; the columns are described
//! in docs/RELIABILITY-FAULTS.md.

use std::path::Path;
use std::time::Duration;

use herd_records::{
    FAULT_SUMMARY_FILE, FAULTS_FILE, FaultRow, FaultSummaryRow, SOAK_FILE, SOAK_GROWTH_FILE,
    SoakGrowthRow, SoakSampleRow, read_csv, write_csv,
};

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

/// `faults.csv` (one row per fault cycle) and `fault-summary.csv` (one row per backend and
/// kind), as `herd_records` defines them. Rows of a (backend, kind, anti-entropy) these
/// outcomes do not cover are kept, so the checker's proof of failure (a run with
/// anti-entropy off) can join the run whose faults it vouches for; one run again replaces.
pub fn write_faults(dir: &Path, outcomes: &[Outcome]) -> anyhow::Result<()> {
    let fresh = |backend: &str, kind: &str, anti_entropy: bool| {
        outcomes.iter().any(|o| {
            o.backend == backend && o.scenario.name() == kind && o.anti_entropy == anti_entropy
        })
    };
    let mut rows: Vec<FaultRow> = read_csv(&dir.join(FAULTS_FILE))?;
    rows.retain(|r| !fresh(&r.backend, &r.kind, r.anti_entropy));
    let mut summary: Vec<FaultSummaryRow> = read_csv(&dir.join(FAULT_SUMMARY_FILE))?;
    summary.retain(|r| !fresh(&r.backend, &r.kind, r.anti_entropy));
    for o in outcomes {
        let t = o.tally();
        let recovered = o.cycles.iter().filter(|c| c.recovered.is_some()).count();
        summary.push(FaultSummaryRow {
            backend: o.backend.clone(),
            kind: o.scenario.name().to_owned(),
            faults: o.faults(),
            cycles: o.cycles.len(),
            acknowledged: o.acked,
            sent: o.sent,
            failed: o.failed,
            lost: t.lost,
            stale: t.stale,
            recovered,
            timed_out: o.cycles.len() - recovered,
            anti_entropy: o.anti_entropy,
        });
        for (i, c) in o.cycles.iter().enumerate() {
            rows.push(FaultRow {
                backend: o.backend.clone(),
                kind: o.scenario.name().to_owned(),
                cycle: i,
                fault: c.what.clone(),
                faults: c.faults,
                injected_s: secs(c.injected),
                healed_s: secs(c.healed),
                recovery_ms: c.recovered.map(|d| (d.as_secs_f64() * 1e4).round() / 10.0),
                lost: c.tally.lost,
                stale: c.tally.stale,
                lost_acked_by: acked_by(&c.lost_acked_by),
                anti_entropy: o.anti_entropy,
            });
        }
    }
    write_csv(&dir.join(FAULTS_FILE), &rows)?;
    write_csv(&dir.join(FAULT_SUMMARY_FILE), &summary)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e3).round() / 1e3
}

/// `soak.csv` (every sample of every backend) and `soak-growth.csv` (one row per backend
/// and server). Rows of backends these outcomes do not cover are kept, so backends can be
/// soaked a few at a time into one run directory; a backend soaked again is replaced.
pub fn write_soak(dir: &Path, outcomes: &[SoakOutcome]) -> anyhow::Result<()> {
    let fresh = |b: &str| outcomes.iter().any(|o| o.backend == b);
    let mut samples: Vec<SoakSampleRow> = read_csv(&dir.join(SOAK_FILE))?;
    samples.retain(|r| !fresh(&r.backend));
    let mut growth: Vec<SoakGrowthRow> = read_csv(&dir.join(SOAK_GROWTH_FILE))?;
    growth.retain(|r| !fresh(&r.backend));
    for o in outcomes {
        for s in &o.samples {
            samples.push(SoakSampleRow {
                backend: o.backend.clone(),
                t_s: (s.at.as_secs_f64() * 10.0).round() / 10.0,
                server: s.server.clone(),
                pid: s.pid,
                rss_kib: s.rss_kib,
                fds: s.fds,
            });
        }
        for x in &o.growth {
            growth.push(SoakGrowthRow {
                backend: o.backend.clone(),
                server: x.server.clone(),
                window_start_s: (x.window_start.as_secs_f64() * 10.0).round() / 10.0,
                rss_start_kib: x.rss_start.round(),
                rss_end_kib: x.rss_end.round(),
                rss_growth_pct: (x.rss_pct * 100.0).round() / 100.0,
                fds_start: x.fds_start,
                fds_end: x.fds_end,
                fds_growth_pct: (x.fds_pct * 100.0).round() / 100.0,
                within_target: x.within(TARGET_GROWTH_PCT),
                rate: o.rate,
                rate_source: o.rate_source.clone(),
                sent: o.sent,
                failed: o.failed,
                cpus: o
                    .cpus
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                connections: o.connections,
            });
        }
    }
    write_csv(&dir.join(SOAK_FILE), &samples)?;
    write_csv(&dir.join(SOAK_GROWTH_FILE), &growth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Tally;
    use crate::scenario::{Cycle, Scenario};

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

    fn soaked(backend: &str, rss_kib: u64, cpus: Vec<usize>) -> SoakOutcome {
        let sample = |secs, rss_kib| crate::soak::Sample {
            at: Duration::from_secs(secs),
            server: "Clark".into(),
            pid: 7,
            rss_kib,
            fds: 9,
        };
        let samples = vec![sample(0, rss_kib), sample(30, rss_kib)];
        SoakOutcome {
            backend: backend.into(),
            growth: crate::soak::growth(&samples, Duration::from_secs(30)),
            samples,
            sent: 10,
            acked: 10,
            failed: 0,
            rate: 100.0,
            rate_source: "given".into(),
            cpus,
            connections: 5,
        }
    }

    #[test]
    fn a_later_soak_keeps_other_backends_and_replaces_its_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_soak(
            dir.path(),
            &[
                soaked("tokio", 1000, vec![0]),
                soaked("smol", 2000, vec![1]),
            ],
        )
        .expect("first soak");
        write_soak(dir.path(), &[soaked("smol", 3000, vec![])]).expect("second soak");

        let samples: Vec<SoakSampleRow> = read_csv(&dir.path().join(SOAK_FILE)).expect("read");
        let rss = |b: &str| -> Vec<u64> {
            samples
                .iter()
                .filter(|r| r.backend == b)
                .map(|r| r.rss_kib)
                .collect()
        };
        assert_eq!(rss("tokio"), [1000, 1000]);
        assert_eq!(rss("smol"), [3000, 3000]);
        let growth: Vec<SoakGrowthRow> =
            read_csv(&dir.path().join(SOAK_GROWTH_FILE)).expect("read");
        let cpus: Vec<(&str, &str)> = growth
            .iter()
            .map(|g| (g.backend.as_str(), g.cpus.as_str()))
            .collect();
        assert_eq!(cpus, [("tokio", "0"), ("smol", "")]);
    }

    #[test]
    fn lost_updates_are_counted_per_acknowledging_server() {
        let servers: Vec<String> = ["A", "A", "C"].map(String::from).into();
        assert_eq!(acked_by(&servers), "A:2 C:1");
        assert_eq!(acked_by(&[]), "");
    }

    fn cycle(recovered: Option<u64>, lost: usize) -> Cycle {
        Cycle {
            what: "kill -9 Clark".into(),
            faults: 1,
            injected: Duration::from_millis(500),
            healed: Duration::from_millis(1_600),
            recovered: recovered.map(Duration::from_millis),
            tally: Tally { lost, stale: 2 },
            lost_acked_by: vec!["Clark".into(); lost],
        }
    }

    /// tokio's outcome of `scenario`: 900 of 1,000 IAMATs acknowledged, 4 failed.
    fn outcome(scenario: Scenario, cycles: Vec<Cycle>, anti_entropy: bool) -> Outcome {
        Outcome {
            backend: "tokio".into(),
            scenario,
            cycles,
            acked: 900,
            sent: 1_000,
            failed: 4,
            anti_entropy,
        }
    }

    #[test]
    fn fault_rows_read_back_through_records() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let o = outcome(
            Scenario::Failover,
            vec![cycle(Some(120), 0), cycle(None, 3)],
            true,
        );
        write_faults(dir, &[o]).expect("write");
        let rows: Vec<FaultRow> = read_csv(&dir.join(FAULTS_FILE)).expect("read");
        let summary: Vec<FaultSummaryRow> = read_csv(&dir.join(FAULT_SUMMARY_FILE)).expect("read");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].recovery_ms, Some(120.0));
        assert_eq!((rows[0].injected_s, rows[0].healed_s), (0.5, 1.6));
        assert_eq!(rows[1].recovery_ms, None);
        assert_eq!(
            (rows[1].lost, rows[1].lost_acked_by.as_str()),
            (3, "Clark:3")
        );
        assert_eq!(summary.len(), 1);
        let s = &summary[0];
        assert_eq!((s.faults, s.lost, s.stale), (2, 3, 4));
        assert_eq!((s.recovered, s.timed_out, s.acknowledged), (1, 1, 900));
    }

    #[test]
    fn a_proof_of_failure_joins_the_run_and_a_rerun_replaces_its_own_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let one = |scenario, lost, anti_entropy| {
            outcome(
                scenario,
                vec![cycle((lost == 0).then_some(90), lost)],
                anti_entropy,
            )
        };
        let run = [
            one(Scenario::Failover, 0, true),
            one(Scenario::Partition, 0, true),
        ];
        write_faults(dir.path(), &run).expect("the run");
        write_faults(dir.path(), &[one(Scenario::Partition, 7, false)]).expect("proof");
        write_faults(dir.path(), &[one(Scenario::Partition, 5, false)]).expect("again");
        let want = [
            ("failover", true, 0),
            ("partition", true, 0),
            ("partition", false, 5),
        ];
        let summary: Vec<FaultSummaryRow> =
            read_csv(&dir.path().join(FAULT_SUMMARY_FILE)).expect("read");
        let got: Vec<(&str, bool, usize)> = summary
            .iter()
            .map(|s| (s.kind.as_str(), s.anti_entropy, s.lost))
            .collect();
        assert_eq!(got, want);
        let rows: Vec<FaultRow> = read_csv(&dir.path().join(FAULTS_FILE)).expect("read");
        let got: Vec<(&str, bool, usize)> = rows
            .iter()
            .map(|r| (r.kind.as_str(), r.anti_entropy, r.lost))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn fault_rows_written_before_the_anti_entropy_column_read_as_anti_entropy_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(FAULTS_FILE);
        std::fs::write(
            &path,
            "backend,kind,cycle,fault,faults,injected_s,healed_s,recovery_ms,lost,stale,lost_acked_by\n\
             tokio,flap,0,Clark-Bailey,10,0.5,1.5,80.0,0,0,\n",
        )
        .expect("write");
        let rows: Vec<FaultRow> = read_csv(&path).expect("read");
        assert_eq!(rows.len(), 1);
        assert!(rows[0].anti_entropy);
    }
}
