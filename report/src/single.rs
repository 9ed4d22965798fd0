//! The `single` scenario's numbers and judgements (issue 12): each backend's server alone as
//! a share of the ceiling responder measured in the same turns, the rate it keeps with its
//! log on, and the herd's CPU per IAMAT over the single server's at the same paced rate.
//!
//! Pure: rows in, figures and verdicts out. A server point is paired with the ceiling point
//! (or the log-off point) of the same repetition, so the spread is the spread of shares, not
//! of two independent spreads. A disturbed row is counted, never used as data.

use herd_records::{Scenario, Server, Shape, SingleRow, SummaryRow};

use crate::stats::{Spread, spread};

/// Share of the ceiling the best backend reaches at least, strict and pipelined.
pub const BEST_SHARE: [f64; 2] = [0.9, 0.7];
/// Share of the ceiling every backend reaches at least, on both shapes.
pub const EVERY_SHARE: f64 = 0.6;
/// Rate with the log on over the rate with it off, at least.
pub const LOG_KEEPS: f64 = 0.9;
/// The herd's CPU per IAMAT over the single server's at the same rate, at most.
pub const HERD_CPU_RATIO: f64 = 3.0;

/// A herd that kept this share of its CPUs busy was at its capacity.
pub const SATURATED: f64 = 0.9;

/// The closed-loop shapes, in the order of every `[_; 2]` below.
pub const CLOSED: [Shape; 2] = [Shape::Strict, Shape::Pipelined];

/// One backend's figures from `single.csv` (and the iamat rows of `summary.csv`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Single {
    pub backend: String,
    /// The server's rate (log off) over the ceiling's in the same repetition.
    pub share: [Option<Spread>; 2],
    /// The server's rate, log off, and the ceiling's, replies/s.
    pub rate: [Option<Spread>; 2],
    pub ceiling_rate: [Option<Spread>; 2],
    /// Rate with the log on over the rate with it off, same repetition.
    pub log_kept: [Option<Spread>; 2],
    /// Server CPU per IAMAT, µs: alone paced at the iamat scenario's rate, and the herd (all
    /// its servers) in that scenario at the same rate and log setting.
    pub single_paced_cpu_us: Option<Spread>,
    pub herd_paced_cpu_us: Option<Spread>,
    /// The paced rate both were measured at.
    pub paced_rate: f64,
    /// Server CPU per IAMAT closed loop strict with the log as the herd had it: alone, and
    /// the herd (all its servers).
    pub single_closed_cpu_us: Option<Spread>,
    pub herd_closed_cpu_us: Option<Spread>,
    /// Rows left out because the machine was disturbed, and commands that failed.
    pub disturbed: usize,
    pub failed: u64,
}

impl Single {
    /// Herd CPU per IAMAT over the single server's (medians), when both were measured.
    pub fn herd_ratio(&self) -> Option<f64> {
        ratio_of(self.herd_paced_cpu_us, self.single_paced_cpu_us)
    }

    /// CPUs the herd's servers kept busy in the paced iamat scenario: its CPU per IAMAT
    /// (median) times the rate.
    pub fn herd_paced_cores(&self) -> Option<f64> {
        self.herd_paced_cpu_us
            .map(|c| c.median * self.paced_rate / 1e6)
            .filter(|_| self.paced_rate > 0.0)
    }

    /// Whether the herd used at least [`SATURATED`] of the `server_cores` it had at the paced
    /// rate: then its CPU per IAMAT there is the CPU there was over the rate, not what an IAMAT
    /// needs, and the paced ratio cannot be held to the target.
    pub fn herd_paced_saturated(&self, server_cores: usize) -> bool {
        self.herd_paced_cores()
            .is_some_and(|used| used >= SATURATED * server_cores.max(1) as f64)
    }

    /// The same, closed loop.
    pub fn herd_closed_ratio(&self) -> Option<f64> {
        ratio_of(self.herd_closed_cpu_us, self.single_closed_cpu_us)
    }
}

fn ratio_of(num: Option<Spread>, den: Option<Spread>) -> Option<f64> {
    let (n, d) = (num?, den?);
    (n.median > 0.0 && d.median > 0.0).then(|| n.median / d.median)
}

fn some(s: Spread) -> Option<Spread> {
    (s.n > 0).then_some(s)
}

/// Per repetition, `num`'s rate over `den`'s where both were measured.
fn paired(num: &[&SingleRow], den: &[&SingleRow]) -> Option<Spread> {
    some(spread(num.iter().filter_map(|n| {
        let d = den.iter().find(|d| d.repetition == n.repetition)?;
        (d.achieved_rate > 0.0).then(|| n.achieved_rate / d.achieved_rate)
    })))
}

/// Every backend with rows, in `order` (the run's backend order); `server_logs` is the log
/// setting the herd scenarios ran with.
pub fn single(
    rows: &[SingleRow],
    summary: &[SummaryRow],
    order: &[String],
    server_logs: bool,
) -> Vec<Single> {
    order
        .iter()
        .filter(|b| rows.iter().any(|r| &r.backend == *b))
        .map(|b| {
            let mine: Vec<&SingleRow> = rows.iter().filter(|r| &r.backend == b).collect();
            let data: Vec<&SingleRow> = mine.iter().copied().filter(|r| !r.disturbed).collect();
            let pick = |server: Server, shape: Shape, logs: bool| -> Vec<&SingleRow> {
                data.iter()
                    .copied()
                    .filter(|r| r.server == server && r.shape == shape && r.logs == logs)
                    .collect()
            };
            let rates = |v: &[&SingleRow]| some(spread(v.iter().map(|r| r.achieved_rate)));
            let cpu = |v: &[&SingleRow]| {
                some(spread(
                    v.iter()
                        .map(|r| r.server_cpu_us_per_command)
                        .filter(|c| *c > 0.0),
                ))
            };
            let mut s = Single {
                backend: b.clone(),
                disturbed: mine.len() - data.len(),
                failed: mine.iter().map(|r| r.failed).sum(),
                ..Single::default()
            };
            for (k, shape) in CLOSED.into_iter().enumerate() {
                let (off, on) = (
                    pick(Server::Backend, shape, false),
                    pick(Server::Backend, shape, true),
                );
                let ceiling = pick(Server::Ceiling, shape, false);
                s.share[k] = paired(&off, &ceiling);
                s.log_kept[k] = paired(&on, &off);
                s.rate[k] = rates(&off);
                s.ceiling_rate[k] = rates(&ceiling);
            }
            s.single_closed_cpu_us = cpu(&pick(Server::Backend, Shape::Strict, server_logs));
            s.herd_closed_cpu_us = cpu(&pick(Server::Herd, Shape::Strict, server_logs));
            let paced: Vec<&SingleRow> = data
                .iter()
                .copied()
                .filter(|r| r.server == Server::Backend && r.shape == Shape::Paced)
                .collect();
            s.single_paced_cpu_us = cpu(&paced);
            if let Some(rate) = paced.first().map(|r| r.target_rate) {
                s.paced_rate = rate;
                s.herd_paced_cpu_us = some(spread(
                    summary
                        .iter()
                        .filter(|r| &r.backend == b && r.scenario == Scenario::Iamat)
                        .filter(|r| !r.disturbed && r.target_rate == rate)
                        .map(|r| r.server_cpu_us_per_command)
                        .filter(|c| *c > 0.0),
                ));
            }
            s
        })
        .collect()
}

/// The backend with the highest median share on shape `k`, and that share.
pub fn best(singles: &[Single], k: usize) -> Option<(&str, f64)> {
    singles
        .iter()
        .filter_map(|s| Some((s.backend.as_str(), s.share[k]?.median)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// A target a figure was held to, and whether it met it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Met,
    Missed,
    /// Not measured (or every repetition disturbed).
    Unknown,
}

pub fn at_least(value: Option<f64>, target: f64) -> Verdict {
    match value {
        Some(v) if v >= target => Verdict::Met,
        Some(_) => Verdict::Missed,
        None => Verdict::Unknown,
    }
}

pub fn at_most(value: Option<f64>, target: f64) -> Verdict {
    match value {
        Some(v) if v <= target => Verdict::Met,
        Some(_) => Verdict::Missed,
        None => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(server: Server, shape: Shape, logs: bool, rep: u32, rate: f64) -> SingleRow {
        SingleRow {
            backend: "b".into(),
            server,
            shape,
            logs,
            repetition: rep,
            connections: 100,
            pipeline: 1,
            target_rate: if shape == Shape::Paced { 5_000.0 } else { 0.0 },
            achieved_rate: rate,
            p99_us: 1_000,
            failed: 0,
            server_cpu_us_per_command: 1e6 / rate,
            server_cpu_cores: 1.0,
            disturbed: false,
        }
    }

    fn herd_row(cpu: f64, disturbed: bool) -> SummaryRow {
        SummaryRow {
            backend: "b".into(),
            scenario: Scenario::Iamat,
            repetition: 0,
            target_rate: 5_000.0,
            achieved_rate: 5_000.0,
            connections: 64,
            pipeline: 1,
            duration_s: 2.0,
            sent: 10_000,
            ok: 10_000,
            errors: 0,
            timeouts: 0,
            wrong: 0,
            p50_us: 1,
            p90_us: 1,
            p99_us: 1,
            p999_us: 1,
            max_us: 1,
            mean_us: 1.0,
            server_cpu_us_per_command: cpu,
            loadgen_cpu_us_per_command: 1.0,
            server_cpu_cores: 1.0,
            peak_rss_sum_bytes: 0,
            peak_rss_max_bytes: 0,
            server_threads: 0,
            loadgen_cpu_cores: 0.1,
            loadgen_bound: false,
            loadavg_1m: 0.1,
            steal_fraction: 0.0,
            outside_cpu_cores: 0.0,
            disturbed,
        }
    }

    #[test]
    fn shares_pair_each_repetition_with_its_own_ceiling_and_skip_disturbed_rows() {
        let mut rows = vec![
            row(Server::Ceiling, Shape::Strict, false, 0, 100_000.0),
            row(Server::Backend, Shape::Strict, false, 0, 90_000.0),
            row(Server::Backend, Shape::Strict, true, 0, 45_000.0),
            // A slower ceiling in repetition 1: the share is taken against it, not rep 0's.
            row(Server::Ceiling, Shape::Strict, false, 1, 50_000.0),
            row(Server::Backend, Shape::Strict, false, 1, 40_000.0),
            row(Server::Backend, Shape::Strict, true, 1, 40_000.0),
            row(Server::Ceiling, Shape::Pipelined, false, 0, 400_000.0),
            row(Server::Backend, Shape::Pipelined, false, 0, 200_000.0),
        ];
        let mut noisy = row(Server::Backend, Shape::Pipelined, false, 1, 1.0);
        noisy.disturbed = true;
        rows.push(noisy);
        rows.push(row(Server::Ceiling, Shape::Pipelined, false, 1, 400_000.0));
        let s = &single(&rows, &[], &["b".into(), "absent".into()], true)[..];
        assert_eq!(s.len(), 1, "only backends with rows");
        let strict = s[0].share[0].expect("strict share");
        assert_eq!((strict.min, strict.max, strict.n), (0.8, 0.9, 2));
        let pipelined = s[0].share[1].expect("pipelined share");
        assert_eq!((pipelined.median, pipelined.n), (0.5, 1));
        let kept = s[0].log_kept[0].expect("log kept");
        assert_eq!((kept.min, kept.max), (0.5, 1.0));
        assert_eq!(s[0].log_kept[1], None, "no log-on pipelined rows");
        assert_eq!(s[0].disturbed, 1);
        let (name, share) = best(s, 0).expect("a best backend");
        assert!(name == "b" && (share - 0.85).abs() < 1e-9, "{name} {share}");
    }

    #[test]
    fn the_herd_ratio_uses_the_iamat_rows_at_the_paced_rate() {
        let mut rows = vec![
            row(Server::Backend, Shape::Paced, true, 0, 5_000.0),
            row(Server::Backend, Shape::Strict, true, 0, 50_000.0),
            row(Server::Herd, Shape::Strict, true, 0, 25_000.0),
        ];
        // With the log off: not the herd's setting, so not compared.
        rows.push(row(Server::Herd, Shape::Strict, false, 0, 100_000.0));
        // 200 µs alone; the herd 700 µs, and a disturbed herd row that would say 5000.
        let summary = [herd_row(700.0, false), herd_row(5_000.0, true)];
        let s = single(&rows, &summary, &["b".into()], true);
        assert_eq!(s[0].paced_rate, 5_000.0);
        assert_eq!(s[0].herd_ratio(), Some(3.5));
        // 700 µs × 5000/s keeps 3.5 CPUs busy: saturated on 2 or 3.89, not on 4.
        assert!((s[0].herd_paced_cores().expect("measured") - 3.5).abs() < 1e-9);
        assert!(s[0].herd_paced_saturated(3));
        assert!(!s[0].herd_paced_saturated(4));
        assert_eq!(at_most(s[0].herd_ratio(), HERD_CPU_RATIO), Verdict::Missed);
        // Closed loop: 40 µs per IAMAT in the herd, 20 µs alone.
        assert_eq!(s[0].herd_closed_ratio(), Some(2.0));
        let alone = single(&rows, &[], &["b".into()], true);
        assert_eq!(alone[0].herd_ratio(), None);
        assert!(
            !alone[0].herd_paced_saturated(1),
            "no herd row, no saturation"
        );
    }

    #[test]
    fn verdicts_hold_at_the_boundary_and_say_when_nothing_was_measured() {
        assert_eq!(at_least(Some(0.6), EVERY_SHARE), Verdict::Met);
        assert_eq!(at_least(Some(0.59), EVERY_SHARE), Verdict::Missed);
        assert_eq!(at_least(None, EVERY_SHARE), Verdict::Unknown);
        assert_eq!(at_most(Some(3.0), HERD_CPU_RATIO), Verdict::Met);
    }
}
