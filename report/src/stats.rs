//! The numbers the report states, and the rule that picks a recommendation. Pure functions
//! over loaded records, tested against fixed inputs.

use std::collections::BTreeMap;

use herd_records::{IdleRow, Scenario, SummaryRow, SweepRow};

/// Median, minimum and maximum of a set of repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

pub fn spread(values: impl IntoIterator<Item = f64>) -> Spread {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Spread::default();
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Spread {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    }
}

/// One backend's result in one fixed-rate scenario, over its repetitions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScenarioStats {
    pub achieved_rate: Spread,
    pub p50_us: Spread,
    pub p99_us: Spread,
    pub p999_us: Spread,
    pub cpu_ms_per_1000: Spread,
    pub peak_rss_sum_bytes: Spread,
    pub failed: u64,
    pub sent: u64,
    pub loadgen_bound: bool,
}

/// Per (backend, scenario) statistics of the fixed-rate scenarios (the sweep excluded).
pub fn scenario_stats(rows: &[SummaryRow]) -> BTreeMap<(String, String), ScenarioStats> {
    let mut groups: BTreeMap<(String, String), Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.scenario != Scenario::Sweep) {
        groups
            .entry((r.backend.clone(), r.scenario.to_string()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(key, rs)| {
            let s = ScenarioStats {
                achieved_rate: spread(rs.iter().map(|r| r.achieved_rate)),
                p50_us: spread(rs.iter().map(|r| r.p50_us as f64)),
                p99_us: spread(rs.iter().map(|r| r.p99_us as f64)),
                p999_us: spread(rs.iter().map(|r| r.p999_us as f64)),
                cpu_ms_per_1000: spread(rs.iter().map(|r| r.server_cpu_us_per_command)),
                peak_rss_sum_bytes: spread(rs.iter().map(|r| r.peak_rss_sum_bytes as f64)),
                failed: rs.iter().map(|r| r.errors + r.timeouts + r.wrong).sum(),
                sent: rs.iter().map(|r| r.sent).sum(),
                loadgen_bound: rs.iter().any(|r| r.loadgen_bound),
            };
            (key, s)
        })
        .collect()
}

/// The highest sweep rate each backend sustained (0 if none), with that step's p99.
pub fn max_sustainable(sweep: &[SweepRow]) -> BTreeMap<String, (f64, u64)> {
    let mut best: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for r in sweep {
        let entry = best.entry(r.backend.clone()).or_insert((0.0, 0));
        if r.sustainable && r.target_rate > entry.0 {
            *entry = (r.target_rate, r.p99_us);
        }
    }
    best
}

/// Resident bytes per idle connection at the largest connection count measured.
pub fn idle_bytes_per_connection(idle: &[IdleRow]) -> BTreeMap<String, (usize, Spread)> {
    let mut largest: BTreeMap<String, usize> = BTreeMap::new();
    for r in idle {
        let k = largest.entry(r.backend.clone()).or_insert(0);
        *k = (*k).max(r.connections);
    }
    largest
        .into_iter()
        .map(|(b, k)| {
            let s = spread(
                idle.iter()
                    .filter(|r| r.backend == b && r.connections == k)
                    .map(|r| r.bytes_per_connection),
            );
            (b, (k, s))
        })
        .collect()
}

/// What the recommendation rule saw for one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub backend: String,
    pub maintained: bool,
    pub sustainable_rate: f64,
    pub idle_bytes: f64,
}

/// Rates within this fraction of the best count as a tie.
pub const TIE: f64 = 0.10;

/// The rule, in order: only maintained runtimes can be recommended; the highest sustainable
/// IAMAT rate under the p99 objective wins; rates within 10% of the best tie, and a tie goes
/// to the lower resident memory per idle connection. Returns the winner and the ranking.
pub fn recommend(candidates: &[Candidate]) -> (Option<&Candidate>, Vec<&Candidate>) {
    let mut ranked: Vec<&Candidate> = candidates.iter().collect();
    ranked.sort_by(|a, b| {
        b.maintained
            .cmp(&a.maintained)
            .then(b.sustainable_rate.total_cmp(&a.sustainable_rate))
    });
    let eligible: Vec<&Candidate> = ranked
        .iter()
        .copied()
        .filter(|c| c.maintained && c.sustainable_rate > 0.0)
        .collect();
    let best_rate = eligible
        .iter()
        .map(|c| c.sustainable_rate)
        .fold(0.0, f64::max);
    let winner = eligible
        .iter()
        .copied()
        .filter(|c| c.sustainable_rate >= best_rate * (1.0 - TIE))
        .min_by(|a, b| {
            a.idle_bytes
                .total_cmp(&b.idle_bytes)
                .then(b.sustainable_rate.total_cmp(&a.sustainable_rate))
        });
    (winner, ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, maintained: bool, rate: f64, idle: f64) -> Candidate {
        Candidate {
            backend: name.into(),
            maintained,
            sustainable_rate: rate,
            idle_bytes: idle,
        }
    }

    #[test]
    fn spread_of_odd_even_and_empty_sets() {
        assert_eq!(
            spread([3.0, 1.0, 2.0]),
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0,
                n: 3
            }
        );
        assert_eq!(spread([4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(spread([]), Spread::default());
    }

    #[test]
    fn highest_rate_wins_ties_go_to_memory_and_unmaintained_never_wins() {
        let field = [
            c("a", true, 10_000.0, 9_000.0),
            c("b", true, 8_000.0, 1_000.0),
            c("old", false, 50_000.0, 10.0),
        ];
        assert_eq!(recommend(&field).0.map(|w| w.backend.as_str()), Some("a"));
        // b comes within 10% of a: now the tie goes to b's smaller memory.
        let field = [
            c("a", true, 10_000.0, 9_000.0),
            c("b", true, 9_500.0, 1_000.0),
        ];
        assert_eq!(recommend(&field).0.map(|w| w.backend.as_str()), Some("b"));
        assert_eq!(recommend(&[c("x", true, 0.0, 1.0)]).0, None);
    }

    #[test]
    fn max_sustainable_takes_the_highest_passing_step() {
        let row = |rate: f64, ok: bool| SweepRow {
            backend: "t".into(),
            scenario: Scenario::Iamat,
            step: 0,
            phase: herd_records::Phase::Ramp,
            target_rate: rate,
            achieved_rate: rate,
            p50_us: 1,
            p99_us: rate as u64,
            p99_min_us: 0,
            p99_max_us: 0,
            error_fraction: 0.0,
            sustainable: ok,
            server_cpu_us_per_command: 0.0,
            loadgen_cpu_us_per_command: 0.0,
            loadavg_1m: 0.0,
            steal_fraction: 0.0,
            outside_cpu_cores: 0.0,
            disturbed: false,
        };
        let best = max_sustainable(&[row(2_000.0, true), row(4_000.0, true), row(8_000.0, false)]);
        assert_eq!(best["t"], (4_000.0, 4_000));
    }
}
