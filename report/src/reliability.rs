//! Reliability statistics: faults injected and what they cost, hostile cases, soak growth.
//!
//! Pure functions over the rows of `faults.csv`, `fault-summary.csv`, `hostile.csv` and
//! `soak-growth.csv`; every judgement of the reliability section (0 lost updates, the
//! 100-fault target of a full run, the 5% soak growth) is made here, and a part of the suite
//! that did not run is `None`, never zeros.

use std::collections::BTreeMap;

use herd_records::{FaultRow, FaultSummaryRow, HostileRow, SoakGrowthRow};

/// Faults a full run injects into each backend (issue 14).
pub const FAULT_TARGET: usize = 100;
/// Largest growth of memory or open fds over the soak's window, percent.
pub const SOAK_GROWTH_TARGET_PCT: f64 = 5.0;

/// One fault kind against one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct KindTally {
    pub kind: String,
    pub faults: usize,
    pub cycles: usize,
    pub lost: usize,
    pub stale: usize,
    pub timed_out: usize,
}

/// Recovery times of one backend's fault cycles, ms (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recovery {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub n: usize,
}

/// The hostile conformance cases of one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Hostile {
    pub passed: usize,
    pub failed: usize,
    /// Known gaps, still failing (run and reported, not counted as passed).
    pub known_gaps: usize,
    pub revisions: Vec<String>,
}

impl Hostile {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.known_gaps
    }
}

/// The soak of one backend: the worst server's growth over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Soak {
    pub rss_growth_pct: f64,
    pub fds_growth_pct: f64,
    pub window_start_s: f64,
    pub within_target: bool,
    pub rate: f64,
    pub rate_source: String,
    pub sent: u64,
    pub failed: u64,
    /// The CPUs the soak's lane was pinned to; empty when it ran alone, unpinned.
    pub cpus: String,
    /// Client connections of the load; 0 if the run did not record them.
    pub connections: usize,
}

/// Everything the reliability section says about one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendReliability {
    pub backend: String,
    /// With anti-entropy on (the herd as shipped); empty if the run injected no faults here.
    pub kinds: Vec<KindTally>,
    pub recovery: Option<Recovery>,
    pub hostile: Option<Hostile>,
    pub soak: Option<Soak>,
}

impl BackendReliability {
    pub fn faults(&self) -> usize {
        self.kinds.iter().map(|k| k.faults).sum()
    }

    pub fn lost(&self) -> usize {
        self.kinds.iter().map(|k| k.lost).sum()
    }

    pub fn stale(&self) -> usize {
        self.kinds.iter().map(|k| k.stale).sum()
    }

    pub fn timed_out(&self) -> usize {
        self.kinds.iter().map(|k| k.timed_out).sum()
    }

    pub fn faults_measured(&self) -> bool {
        !self.kinds.is_empty()
    }

    /// Faults ran and no acknowledged update was lost.
    pub fn no_lost_updates(&self) -> bool {
        self.faults_measured() && self.lost() == 0
    }

    pub fn meets_fault_target(&self) -> bool {
        self.faults() >= FAULT_TARGET
    }
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Recovery times of `backend`'s cycles with anti-entropy on, sorted; cycles that timed out
/// have none.
pub fn recovery_times(rows: &[FaultRow], backend: &str) -> Vec<f64> {
    let mut v: Vec<f64> = rows
        .iter()
        .filter(|r| r.backend == backend && r.anti_entropy)
        .filter_map(|r| r.recovery_ms)
        .filter(|x| x.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// One entry per backend, in `backends` order.
pub fn reliability(
    backends: &[String],
    rows: &[FaultRow],
    summary: &[FaultSummaryRow],
    hostile: &[HostileRow],
    soak: &[SoakGrowthRow],
) -> Vec<BackendReliability> {
    backends
        .iter()
        .map(|b| {
            let kinds = summary
                .iter()
                .filter(|s| &s.backend == b && s.anti_entropy)
                .map(|s| KindTally {
                    kind: s.kind.clone(),
                    faults: s.faults,
                    cycles: s.cycles,
                    lost: s.lost,
                    stale: s.stale,
                    timed_out: s.timed_out,
                })
                .collect();
            let times = recovery_times(rows, b);
            let recovery = (!times.is_empty()).then(|| Recovery {
                p50: percentile(&times, 50.0),
                p90: percentile(&times, 90.0),
                p99: percentile(&times, 99.0),
                max: percentile(&times, 100.0),
                n: times.len(),
            });
            let cases: Vec<&HostileRow> = hostile.iter().filter(|h| &h.backend == b).collect();
            let hostile = (!cases.is_empty()).then(|| {
                let count = |o: &str| cases.iter().filter(|h| h.outcome == o).count();
                let mut revisions: Vec<String> = cases.iter().map(|h| h.revision.clone()).collect();
                revisions.sort();
                revisions.dedup();
                Hostile {
                    passed: count("ok"),
                    failed: count("FAILED"),
                    known_gaps: count("ignored"),
                    revisions,
                }
            });
            let servers: Vec<&SoakGrowthRow> = soak.iter().filter(|g| &g.backend == b).collect();
            let soak = servers.first().map(|first| {
                let worst = |f: fn(&SoakGrowthRow) -> f64| {
                    servers.iter().map(|g| f(g)).fold(f64::MIN, f64::max)
                };
                let rss = worst(|g| g.rss_growth_pct);
                let fds = worst(|g| g.fds_growth_pct);
                Soak {
                    rss_growth_pct: rss,
                    fds_growth_pct: fds,
                    window_start_s: first.window_start_s,
                    within_target: rss <= SOAK_GROWTH_TARGET_PCT && fds <= SOAK_GROWTH_TARGET_PCT,
                    rate: first.rate,
                    rate_source: first.rate_source.clone(),
                    sent: first.sent,
                    failed: first.failed,
                    cpus: first.cpus.clone(),
                    connections: first.connections,
                }
            });
            BackendReliability {
                backend: b.clone(),
                kinds,
                recovery,
                hostile,
                soak,
            }
        })
        .collect()
}

/// The checker's proof of failure: per backend and kind run with anti-entropy off, the
/// lost updates it found.
pub fn proofs_of_failure(summary: &[FaultSummaryRow]) -> BTreeMap<(String, String), usize> {
    summary
        .iter()
        .filter(|s| !s.anti_entropy)
        .map(|s| ((s.backend.clone(), s.kind.clone()), s.lost))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(backend: &str, kind: &str, faults: usize, lost: usize, ae: bool) -> FaultSummaryRow {
        FaultSummaryRow {
            backend: backend.into(),
            kind: kind.into(),
            faults,
            cycles: faults,
            acknowledged: 1000,
            sent: 1000,
            failed: 0,
            lost,
            stale: lost,
            recovered: faults,
            timed_out: 0,
            anti_entropy: ae,
        }
    }

    fn row(backend: &str, kind: &str, recovery: Option<f64>) -> FaultRow {
        FaultRow {
            backend: backend.into(),
            kind: kind.into(),
            cycle: 0,
            fault: "kill -9 A".into(),
            faults: 1,
            injected_s: 0.5,
            healed_s: 1.5,
            recovery_ms: recovery,
            lost: 0,
            stale: 0,
            lost_acked_by: String::new(),
            anti_entropy: true,
        }
    }

    fn growth(backend: &str, rss: f64, fds: f64) -> SoakGrowthRow {
        SoakGrowthRow {
            backend: backend.into(),
            server: "A".into(),
            window_start_s: 600.0,
            rss_start_kib: 1000.0,
            rss_end_kib: 1000.0 * (1.0 + rss / 100.0),
            rss_growth_pct: rss,
            fds_start: 10.0,
            fds_end: 10.0,
            fds_growth_pct: fds,
            within_target: rss <= 5.0 && fds <= 5.0,
            rate: 700.0,
            rate_source: "70% of iamat sustainable 1000/s".into(),
            sent: 1000,
            failed: 0,
            cpus: String::new(),
            connections: 5,
        }
    }

    #[test]
    fn absent_parts_are_none_never_zero() {
        let r = reliability(&["tokio".into()], &[], &[], &[], &[]);
        assert_eq!(r.len(), 1);
        assert!(!r[0].faults_measured());
        assert!(!r[0].no_lost_updates(), "no faults is not 0 lost");
        assert_eq!(
            (&r[0].recovery, &r[0].hostile, &r[0].soak),
            (&None, &None, &None)
        );
    }

    #[test]
    fn faults_lost_and_recovery_percentiles_per_backend() {
        let s = [
            summary("tokio", "failover", 10, 0, true),
            summary("tokio", "flap", 90, 0, true),
            summary("smol", "failover", 3, 2, true),
            // The proof of failure is kept apart from the herd as shipped.
            summary("tokio", "partition", 5, 7, false),
        ];
        let mut rows: Vec<FaultRow> = (1..=10)
            .map(|i| row("tokio", "failover", Some(f64::from(i) * 100.0)))
            .collect();
        rows.push(row("tokio", "failover", None));
        rows.push(FaultRow {
            anti_entropy: false,
            ..row("tokio", "partition", Some(5.0))
        });
        let r = reliability(&["tokio".into(), "smol".into()], &rows, &s, &[], &[]);
        assert_eq!((r[0].faults(), r[0].lost()), (100, 0));
        assert!(r[0].no_lost_updates() && r[0].meets_fault_target());
        let rec = r[0].recovery.expect("recovery");
        assert_eq!(
            (rec.p50, rec.p90, rec.max, rec.n),
            (500.0, 900.0, 1000.0, 10)
        );
        assert_eq!((r[1].faults(), r[1].lost()), (3, 2));
        assert!(!r[1].no_lost_updates() && !r[1].meets_fault_target());
        assert_eq!(r[1].recovery, None);
        let proofs = proofs_of_failure(&s);
        assert_eq!(proofs.get(&("tokio".into(), "partition".into())), Some(&7));
        assert_eq!(proofs.len(), 1);
    }

    #[test]
    fn hostile_outcomes_and_worst_soak_server() {
        let h = |case: &str, outcome: &str| HostileRow {
            backend: "tokio".into(),
            case: case.into(),
            outcome: outcome.into(),
            revision: "abc123".into(),
        };
        let hostile = [
            h("a", "ok"),
            h("b", "ok"),
            h("c", "FAILED"),
            h("d", "ignored"),
        ];
        let soak = [growth("tokio", 1.0, 0.0), growth("tokio", 6.5, 0.0)];
        let r = reliability(&["tokio".into()], &[], &[], &hostile, &soak);
        let x = r[0].hostile.as_ref().expect("hostile");
        assert_eq!((x.passed, x.failed, x.known_gaps, x.total()), (2, 1, 1, 4));
        assert_eq!(x.revisions, vec!["abc123".to_owned()]);
        let s = r[0].soak.as_ref().expect("soak");
        assert_eq!(s.rss_growth_pct, 6.5);
        assert!(!s.within_target);
    }
}
