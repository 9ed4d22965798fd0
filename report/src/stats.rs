//! The numbers the report states, and the rule that picks a recommendation. Pure functions
//! over loaded records, tested against fixed inputs.

use std::collections::BTreeMap;

use herd_records::{BackendInfo, IdleRow, Scenario, SummaryRow, SustainableRow, SweepRow};

mod instrument;
pub use instrument::*;

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
    /// The servers' CPU per answered command, microseconds.
    pub cpu_us_per_command: Spread,
    /// The load generator's own CPU per command sent, microseconds.
    pub loadgen_cpu_us_per_command: Spread,
    pub peak_rss_sum_bytes: Spread,
    pub failed: u64,
    pub sent: u64,
    pub loadgen_bound: bool,
}

/// Per (backend, scenario) statistics of the fixed-rate scenarios (the sweep excluded), over
/// the repetitions that were not disturbed: a disturbed row is listed, never used as data.
pub fn scenario_stats(rows: &[SummaryRow]) -> BTreeMap<(String, Scenario), ScenarioStats> {
    let mut groups: BTreeMap<(String, Scenario), Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.scenario != Scenario::Sweep && !r.disturbed)
    {
        groups
            .entry((r.backend.clone(), r.scenario))
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
                cpu_us_per_command: spread(rs.iter().map(|r| r.server_cpu_us_per_command)),
                loadgen_cpu_us_per_command: spread(rs.iter().map(|r| r.loadgen_cpu_us_per_command)),
                peak_rss_sum_bytes: spread(rs.iter().map(|r| r.peak_rss_sum_bytes as f64)),
                failed: rs.iter().map(|r| r.errors + r.timeouts + r.wrong).sum(),
                sent: rs.iter().map(|r| r.sent).sum(),
                loadgen_bound: rs.iter().any(|r| r.loadgen_bound),
            };
            (key, s)
        })
        .collect()
}

/// A backend's maximum sustainable IAMAT rate and how firmly it was found.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limit {
    /// Commands/s; 0 when even the first rate failed.
    pub rate: f64,
    /// Median p99 at that rate, microseconds.
    pub p99_us: u64,
    /// The search's final interval over the rate ((lowest fail - highest pass) / highest
    /// pass); `None` when nothing failed up to the cap, or for a plain stepped sweep.
    pub precision: Option<f64>,
    /// Max/min achieved rate over the confirmation repetitions, with their count and how many
    /// passed; `None` without a confirmation (a stepped sweep).
    pub spread: Option<f64>,
    pub repetitions: u32,
    pub passed: u32,
}

/// Each backend's limit: from `sustainable.csv` (the search's result) where the run has it,
/// else the highest sustainable undisturbed point of `sweep.csv` (0 if none passed). A
/// backend with neither was not measured and is absent.
pub fn sustainable(found: &[SustainableRow], sweep: &[SweepRow]) -> BTreeMap<String, Limit> {
    let mut best: BTreeMap<String, Limit> = BTreeMap::new();
    for r in sweep {
        let entry = best.entry(r.backend.clone()).or_default();
        if r.sustainable && !r.disturbed && r.target_rate > entry.rate {
            *entry = Limit {
                rate: r.target_rate,
                p99_us: r.p99_us,
                ..Limit::default()
            };
        }
    }
    for r in found {
        best.insert(
            r.backend.clone(),
            Limit {
                rate: r.rate,
                p99_us: r.p99_us,
                precision: r.lowest_fail.map(|_| r.precision),
                spread: (r.repetitions > 0).then_some(r.spread),
                repetitions: r.repetitions,
                passed: r.passed,
            },
        );
    }
    best
}

/// The deciding figure is reproducible when its confirmation repetitions spread (max/min)
/// by at most this fraction.
pub const MAX_SPREAD: f64 = 0.10;

/// The search must bracket each limit to within this fraction for rates 10% apart to be
/// told apart.
pub const PRECISION: f64 = 0.05;

/// Whether a limit was found precisely enough: `None` when the search did not bracket it.
pub fn precise(limit: &Limit) -> Option<bool> {
    limit.precision.map(|p| p <= PRECISION + 1e-9)
}

/// Whether most of a limit's confirmation repetitions kept up: `None` when it had none. A
/// search that runs out of confirmation rounds reports its highest passing point with the
/// last (failed) confirmation, which this tells apart from a confirmed limit.
pub fn confirmed(limit: &Limit) -> Option<bool> {
    (limit.repetitions > 0).then_some(2 * limit.passed > limit.repetitions)
}

/// Whether a limit's confirmation was steady: `None` when it had none.
pub fn steady(limit: &Limit) -> Option<bool> {
    limit.spread.map(|s| s <= 1.0 + MAX_SPREAD)
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

/// The language the recommendation chooses in: backends in other languages are measured as
/// reference points for the team, never recommended.
pub const RECOMMENDED_LANGUAGE: &str = "Rust";

/// The maintenance status a backend must have to be recommended.
pub const MAINTAINED: &str = "maintained";

/// Rates within this fraction of the best count as a tie.
pub const TIE: f64 = 0.10;

/// Memory and WHATSAT latency within this fraction of the best count as a strength.
pub const NEAR_BEST: f64 = 0.25;

/// Shell code within this fraction of the smallest shell counts as a strength.
pub const CODE_SLACK: f64 = 0.20;

/// What the recommendation rule saw for one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub backend: String,
    pub language: String,
    pub maintained: bool,
    /// The highest IAMAT rate it sustained; `None` when its sweep did not run, `Some(0.0)`
    /// when the sweep ran and even its first rate failed.
    pub sustainable_rate: Option<f64>,
    /// Resident bytes per idle connection; `None` when not measured.
    pub idle_bytes: Option<f64>,
    /// Most of its limit's confirmation repetitions failed ([`confirmed`] is `Some(false)`):
    /// the rate was tried, not sustained.
    pub unconfirmed: bool,
}

impl Candidate {
    /// Whether the rule may pick this backend at all (its data aside).
    pub fn recommendable(&self) -> bool {
        self.maintained && self.language == RECOMMENDED_LANGUAGE
    }

    /// Whether it is in the run only as a point of reference (another language).
    pub fn reference(&self) -> bool {
        self.language != RECOMMENDED_LANGUAGE
    }

    fn rate(&self) -> f64 {
        self.sustainable_rate.unwrap_or(0.0)
    }
}

/// The maintenance judgement of a backend, from its manifest as recorded in `meta.json`.
pub fn maintained(info: &BackendInfo) -> bool {
    info.maintenance_status == MAINTAINED
}

/// One candidate per backend of the run, from the run's own tables.
pub fn candidates(
    backends: &[BackendInfo],
    sustainable: &BTreeMap<String, Limit>,
    idle: &BTreeMap<String, (usize, Spread)>,
) -> Vec<Candidate> {
    backends
        .iter()
        .map(|b| Candidate {
            backend: b.name.clone(),
            language: b.language.clone(),
            maintained: maintained(b),
            sustainable_rate: sustainable.get(&b.name).map(|s| s.rate),
            idle_bytes: idle.get(&b.name).map(|i| i.1.median),
            unconfirmed: sustainable
                .get(&b.name)
                .is_some_and(|s| confirmed(s) == Some(false)),
        })
        .collect()
}

/// What the rule concluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Recommendation<'a> {
    /// The winner, and the best other recommendable backend if there is one.
    Winner {
        winner: &'a Candidate,
        runner_up: Option<&'a Candidate>,
        /// The runner-up's rate was within [`TIE`] of the winner's (or above it).
        tie: bool,
    },
    /// The run holds no maintained backend in [`RECOMMENDED_LANGUAGE`].
    NoCandidate,
    /// No recommendable backend's sweep ran: the deciding figure was not measured.
    NotMeasured,
    /// Sweeps ran, but none of the recommendable backends sustained even their first rate.
    NoneSustained,
}

/// The rule, in order: only maintained backends in [`RECOMMENDED_LANGUAGE`] can be
/// recommended; the highest sustainable IAMAT rate under the p99 objective wins; rates within
/// [`TIE`] of the best tie, and a tie goes to the lower resident memory per idle connection.
/// A rate whose confirmation mostly failed was tried, not sustained: it decides only when no
/// recommendable backend's limit held (see [`set_aside`]).
/// Returns the conclusion and every backend ranked (recommendable first, then by rate, the
/// unmeasured last).
pub fn recommend(candidates: &[Candidate]) -> (Recommendation<'_>, Vec<&Candidate>) {
    let mut ranked: Vec<&Candidate> = candidates.iter().collect();
    ranked.sort_by(|a, b| {
        b.recommendable()
            .cmp(&a.recommendable())
            .then(
                b.sustainable_rate
                    .is_some()
                    .cmp(&a.sustainable_rate.is_some()),
            )
            .then(b.rate().total_cmp(&a.rate()))
    });
    let eligible: Vec<&Candidate> = ranked
        .iter()
        .copied()
        .filter(|c| c.recommendable())
        .collect();
    if eligible.is_empty() {
        return (Recommendation::NoCandidate, ranked);
    }
    if eligible.iter().all(|c| c.sustainable_rate.is_none()) {
        return (Recommendation::NotMeasured, ranked);
    }
    let eligible: Vec<&Candidate> = if any_held(eligible.iter().copied()) {
        eligible.into_iter().filter(|c| !c.unconfirmed).collect()
    } else {
        eligible
    };
    let best_rate = eligible.iter().map(|c| c.rate()).fold(0.0, f64::max);
    if best_rate <= 0.0 {
        return (Recommendation::NoneSustained, ranked);
    }
    let memory = |c: &Candidate| c.idle_bytes.unwrap_or(f64::INFINITY);
    let Some(winner) = eligible
        .iter()
        .copied()
        .filter(|c| within(c.rate(), best_rate, TIE))
        .min_by(|a, b| {
            memory(a)
                .total_cmp(&memory(b))
                .then(b.rate().total_cmp(&a.rate()))
        })
    else {
        return (Recommendation::NoneSustained, ranked);
    };
    let runner_up = eligible
        .iter()
        .copied()
        .find(|c| c.backend != winner.backend && c.sustainable_rate.is_some());
    let tie = runner_up.is_some_and(|r| within(r.rate(), winner.rate(), TIE));
    (
        Recommendation::Winner {
            winner,
            runner_up,
            tie,
        },
        ranked,
    )
}

/// Whether some recommendable backend's limit held (confirmed, or from a sweep without
/// confirmations) at a rate above 0: then a rate that was only tried takes no part in the
/// rule or in the best figures backends are judged against.
fn any_held<'a>(candidates: impl IntoIterator<Item = &'a Candidate>) -> bool {
    candidates
        .into_iter()
        .any(|c| c.recommendable() && !c.unconfirmed && c.rate() > 0.0)
}

/// The recommendable backends whose rate was above the winner's but not confirmed, and so
/// could not decide while the winner's limit held.
pub fn set_aside<'a>(candidates: &'a [Candidate], winner: &Candidate) -> Vec<&'a Candidate> {
    if winner.unconfirmed {
        return Vec::new();
    }
    candidates
        .iter()
        .filter(|c| c.recommendable() && c.unconfirmed && c.rate() > winner.rate())
        .collect()
}

/// `value` is at least `best` less `fraction` of it.
fn within(value: f64, best: f64, fraction: f64) -> bool {
    value >= best * (1.0 - fraction)
}

/// `value` is at most `best` plus `fraction` of it (lower is better).
fn near_low(value: f64, best: f64, fraction: f64) -> bool {
    value <= best * (1.0 + fraction)
}

/// A backend's maintenance as the report states it.
#[derive(Debug, Clone, PartialEq)]
pub enum Maintenance {
    Maintained,
    Not {
        status: String,
        since: Option<String>,
        advisory: Option<String>,
        note: Option<String>,
    },
}

pub fn maintenance(info: &BackendInfo) -> Maintenance {
    if maintained(info) {
        Maintenance::Maintained
    } else {
        Maintenance::Not {
            status: info.maintenance_status.clone(),
            since: info.maintenance_since.clone(),
            advisory: info.maintenance_advisory.clone(),
            note: info.maintenance_note.clone(),
        }
    }
}

/// One measured fact about a backend, with the figure it is judged against.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    /// Sustained IAMAT rate against the best recommendable backend's.
    Rate {
        rate: f64,
        best: f64,
    },
    /// A rate above every recommendable backend's (a discontinued or reference backend).
    RateAbove {
        rate: f64,
        best: f64,
    },
    /// The last rate its search tried to confirm, which most repetitions failed.
    RateUnconfirmed {
        rate: f64,
    },
    /// Resident bytes per idle connection against the smallest.
    IdleMemory {
        bytes: f64,
        best: f64,
    },
    /// Median WHATSAT p99 with a slow upstream against the lowest.
    WhatsatP99 {
        us: f64,
        best: f64,
    },
    /// WHATSATs that failed or timed out.
    WhatsatFailures {
        failed: u64,
        sent: u64,
    },
    /// Lines of shell code against the smallest shell.
    CodeLines {
        lines: usize,
        smallest: usize,
    },
    Maintenance(Maintenance),
}

/// A fact and whether it counts for (`pro`) or against the backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub fact: Fact,
    pub pro: bool,
}

/// The figures a backend is judged against: the best of the recommendable backends, so a
/// reference backend is measured against the field the team chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Field {
    pub best_rate: Option<f64>,
    pub best_idle: Option<f64>,
    pub best_whatsat_us: Option<f64>,
    pub smallest_shell: Option<usize>,
}

/// What one backend brings to the judgement beyond its [`Candidate`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Evidence {
    pub whatsat_p99_us: Option<f64>,
    pub whatsat_failed: u64,
    pub whatsat_sent: u64,
    pub code_lines: Option<usize>,
}

/// The best figures over the recommendable backends (`evidence` in the order of `candidates`).
pub fn field(candidates: &[Candidate], evidence: &[Evidence]) -> Field {
    let mut f = Field::default();
    let held = any_held(candidates);
    for (c, e) in candidates.iter().zip(evidence) {
        if !c.recommendable() {
            continue;
        }
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if !(held && c.unconfirmed) {
            f.best_rate = max(f.best_rate, c.sustainable_rate);
        }
        f.best_idle = min(f.best_idle, c.idle_bytes);
        f.best_whatsat_us = min(f.best_whatsat_us, e.whatsat_p99_us);
        f.smallest_shell = match (f.smallest_shell, e.code_lines) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    f
}

/// The pros and cons of one backend, in a fixed order: rate, memory, WHATSAT latency and
/// failures, code size, maintenance. A figure that was not measured is neither.
pub fn judge(c: &Candidate, e: &Evidence, m: Maintenance, f: &Field) -> Vec<Judged> {
    let mut out = Vec::new();
    if let (Some(rate), true) = (c.sustainable_rate, c.unconfirmed) {
        out.push(Judged {
            fact: Fact::RateUnconfirmed { rate },
            pro: false,
        });
    } else if let (Some(rate), Some(best)) = (c.sustainable_rate, f.best_rate) {
        out.push(if rate > best {
            Judged {
                fact: Fact::RateAbove { rate, best },
                pro: true,
            }
        } else {
            Judged {
                fact: Fact::Rate { rate, best },
                pro: rate > 0.0 && within(rate, best, TIE),
            }
        });
    }
    if let (Some(bytes), Some(best)) = (c.idle_bytes, f.best_idle) {
        out.push(Judged {
            fact: Fact::IdleMemory { bytes, best },
            pro: near_low(bytes, best, NEAR_BEST),
        });
    }
    if let (Some(us), Some(best)) = (e.whatsat_p99_us, f.best_whatsat_us) {
        out.push(Judged {
            fact: Fact::WhatsatP99 { us, best },
            pro: near_low(us, best, NEAR_BEST),
        });
    }
    if e.whatsat_failed > 0 {
        out.push(Judged {
            fact: Fact::WhatsatFailures {
                failed: e.whatsat_failed,
                sent: e.whatsat_sent,
            },
            pro: false,
        });
    }
    if let (Some(lines), Some(smallest)) = (e.code_lines, f.smallest_shell) {
        out.push(Judged {
            fact: Fact::CodeLines { lines, smallest },
            pro: lines as f64 <= smallest as f64 * (1.0 + CODE_SLACK),
        });
    }
    let pro = m == Maintenance::Maintained;
    out.push(Judged {
        fact: Fact::Maintenance(m),
        pro,
    });
    out
}

/// A reference backend (another language) set against the recommended one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub backend: String,
    pub language: String,
    /// Its sustained rate over the recommended backend's, if both were measured.
    pub rate_ratio: Option<f64>,
    /// Its memory per idle connection over the recommended backend's.
    pub idle_ratio: Option<f64>,
}

/// Every reference backend against `against` (the winner).
pub fn references(candidates: &[Candidate], against: &Candidate) -> Vec<Reference> {
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    candidates
        .iter()
        .filter(|c| c.reference())
        .map(|c| Reference {
            backend: c.backend.clone(),
            language: c.language.clone(),
            rate_ratio: ratio(c.sustainable_rate, against.sustainable_rate),
            idle_ratio: ratio(c.idle_bytes, against.idle_bytes),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, maintained: bool, rate: f64, idle: f64) -> Candidate {
        Candidate {
            backend: name.into(),
            language: RECOMMENDED_LANGUAGE.into(),
            maintained,
            sustainable_rate: Some(rate),
            idle_bytes: Some(idle),
            unconfirmed: false,
        }
    }

    fn winner<'a>(r: &(Recommendation<'a>, Vec<&'a Candidate>)) -> Option<&'a str> {
        match r.0 {
            Recommendation::Winner { winner, .. } => Some(winner.backend.as_str()),
            _ => None,
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
        let r = recommend(&field);
        assert_eq!(winner(&r), Some("a"));
        assert!(matches!(
            r.0,
            Recommendation::Winner { runner_up: Some(b), tie: false, .. } if b.backend == "b"
        ));
        // The discontinued backend ranks after every recommendable one, whatever its rate.
        assert_eq!(r.1.last().map(|c| c.backend.as_str()), Some("old"));
        // b comes within 10% of a: now the tie goes to b's smaller memory.
        let field = [
            c("a", true, 10_000.0, 9_000.0),
            c("b", true, 9_500.0, 1_000.0),
        ];
        let r = recommend(&field);
        assert_eq!(winner(&r), Some("b"));
        assert!(matches!(r.0, Recommendation::Winner { tie: true, .. }));
        // Just outside the tie: the rate decides.
        let field = [
            c("a", true, 10_000.0, 9_000.0),
            c("b", true, 8_999.0, 1_000.0),
        ];
        assert_eq!(winner(&recommend(&field)), Some("a"));
    }

    #[test]
    fn an_unconfirmed_rate_decides_only_when_no_limit_held() {
        let mut tried = c("tried", true, 11_000.0, 1_000.0);
        tried.unconfirmed = true;
        let cands = [tried.clone(), c("held", true, 8_000.0, 9_000.0)];
        let r = recommend(&cands);
        assert_eq!(winner(&r), Some("held"));
        assert!(matches!(
            r.0,
            Recommendation::Winner {
                runner_up: None,
                ..
            }
        ));
        let aside: Vec<&str> = set_aside(&cands, &cands[1])
            .iter()
            .map(|c| c.backend.as_str())
            .collect();
        assert_eq!(aside, ["tried"]);
        // A held limit of 0 (even the first rate failed) is no limit held: the tried rate decides.
        let cands = [tried.clone(), c("none", true, 0.0, 10.0)];
        let r = recommend(&cands);
        assert_eq!(winner(&r), Some("tried"));
        assert!(set_aside(&cands, &cands[0]).is_empty());
        // Nor does it set the best rate others are judged against, and it is a con of its own.
        let field_of = |cs: &[Candidate]| field(cs, &vec![Evidence::default(); cs.len()]);
        let tried_and_held = [tried.clone(), c("held", true, 8_000.0, 9_000.0)];
        let f = field_of(&tried_and_held);
        assert_eq!(f.best_rate, Some(8_000.0));
        assert_eq!(
            judge(&tried, &Evidence::default(), Maintenance::Maintained, &f)[0],
            Judged {
                fact: Fact::RateUnconfirmed { rate: 11_000.0 },
                pro: false
            }
        );
        // With no limit held anywhere, the tried rate is the best there is.
        assert_eq!(field_of(&[tried.clone()]).best_rate, Some(11_000.0));
        // An unconfirmed rate below the winner's is not said to be set aside.
        let mut low = c("low", true, 5_000.0, 10.0);
        low.unconfirmed = true;
        let cands = [c("held", true, 8_000.0, 9_000.0), low];
        assert!(set_aside(&cands, &cands[0]).is_empty());
    }

    #[test]
    fn only_rust_backends_are_recommended_and_others_are_references() {
        let mut python = c("asyncio", true, 90_000.0, 10.0);
        python.language = "Python".into();
        let field = [c("tokio", true, 10_000.0, 9_000.0), python];
        let r = recommend(&field);
        assert_eq!(winner(&r), Some("tokio"));
        assert!(matches!(
            r.0,
            Recommendation::Winner {
                runner_up: None,
                ..
            }
        ));
        let refs = references(&field, &field[0]);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].backend, "asyncio");
        assert_eq!(refs[0].rate_ratio, Some(9.0));
        assert_eq!(refs[0].idle_ratio, Some(10.0 / 9_000.0));
        // A run of only reference backends recommends nothing.
        assert_eq!(recommend(&field[1..]).0, Recommendation::NoCandidate);
    }

    #[test]
    fn an_unmeasured_sweep_is_not_a_failed_one() {
        let mut a = c("a", true, 0.0, 1.0);
        a.sustainable_rate = None;
        let mut b = a.clone();
        b.backend = "b".into();
        assert_eq!(
            recommend(&[a.clone(), b.clone()]).0,
            Recommendation::NotMeasured
        );
        b.sustainable_rate = Some(0.0);
        assert_eq!(
            recommend(&[a.clone(), b.clone()]).0,
            Recommendation::NoneSustained
        );
        b.sustainable_rate = Some(2_000.0);
        let both = [a, b];
        let r = recommend(&both);
        assert_eq!(winner(&r), Some("b"));
        // The measured backend ranks before the unmeasured one.
        assert_eq!(r.1[0].backend, "b");
        assert!(matches!(
            r.0,
            Recommendation::Winner {
                runner_up: None,
                ..
            }
        ));
        assert_eq!(recommend(&[]).0, Recommendation::NoCandidate);
    }

    #[test]
    fn pros_and_cons_follow_the_thresholds() {
        let cands = [
            c("best", true, 10_000.0, 10_000.0),
            c("near", true, 9_000.0, 12_500.0),
            c("far", true, 8_999.0, 12_501.0),
        ];
        let ev = [
            Evidence {
                whatsat_p99_us: Some(20_000.0),
                code_lines: Some(300),
                ..Evidence::default()
            },
            Evidence {
                whatsat_p99_us: Some(25_000.0),
                code_lines: Some(360),
                ..Evidence::default()
            },
            Evidence {
                whatsat_p99_us: Some(25_001.0),
                whatsat_failed: 3,
                whatsat_sent: 100,
                code_lines: Some(361),
            },
        ];
        let f = field(&cands, &ev);
        assert_eq!(f.best_rate, Some(10_000.0));
        assert_eq!(f.best_idle, Some(10_000.0));
        assert_eq!(f.best_whatsat_us, Some(20_000.0));
        assert_eq!(f.smallest_shell, Some(300));
        let pros = |i: usize| -> Vec<bool> {
            judge(&cands[i], &ev[i], Maintenance::Maintained, &f)
                .iter()
                .map(|j| j.pro)
                .collect()
        };
        // rate, memory, WHATSAT p99, code, maintenance: on each threshold is a pro.
        assert_eq!(pros(1), vec![true, true, true, true, true]);
        // Just past each threshold is a con, and failures are a con of their own.
        assert_eq!(pros(2), vec![false, false, false, false, false, true]);
        assert!(matches!(
            judge(&cands[2], &ev[2], Maintenance::Maintained, &f)[3].fact,
            Fact::WhatsatFailures {
                failed: 3,
                sent: 100
            }
        ));
        // Faster than every recommendable backend is a fact of its own.
        let fast = c("fast", false, 20_000.0, 10_000.0);
        assert_eq!(
            judge(&fast, &Evidence::default(), Maintenance::Maintained, &f)[0],
            Judged {
                fact: Fact::RateAbove {
                    rate: 20_000.0,
                    best: 10_000.0
                },
                pro: true
            }
        );
        // A first step that failed is a con, not a pro "within 10% of" nothing.
        let zero = c("zero", true, 0.0, 10_000.0);
        let j = judge(
            &zero,
            &Evidence::default(),
            Maintenance::Maintained,
            &Field {
                best_rate: Some(0.0),
                ..f
            },
        );
        assert!(!j[0].pro);
        // What was not measured is not judged.
        let mut unmeasured = zero.clone();
        unmeasured.sustainable_rate = None;
        unmeasured.idle_bytes = None;
        let j = judge(
            &unmeasured,
            &Evidence::default(),
            Maintenance::Maintained,
            &f,
        );
        assert_eq!(j.len(), 1, "only maintenance: {j:?}");
    }

    #[test]
    fn maintenance_comes_from_the_manifest_status() {
        let mut info = BackendInfo {
            name: "x".into(),
            language: "Rust".into(),
            runtime: "r".into(),
            runtime_crates: vec![],
            threads: 1,
            threads_meaning: "t".into(),
            maintenance_status: "maintained".into(),
            maintenance_since: None,
            maintenance_advisory: None,
            maintenance_note: None,
        };
        assert_eq!(maintenance(&info), Maintenance::Maintained);
        info.maintenance_status = "discontinued".into();
        info.maintenance_advisory = Some("RUSTSEC-1".into());
        assert!(!maintained(&info));
        assert!(matches!(
            maintenance(&info),
            Maintenance::Not { status, advisory: Some(a), .. } if status == "discontinued" && a == "RUSTSEC-1"
        ));
        let m = maintenance(&info);
        let j = judge(
            &c("x", false, 1.0, 1.0),
            &Evidence::default(),
            m,
            &Field::default(),
        );
        assert!(!j.last().expect("maintenance").pro);
    }

    #[test]
    fn the_search_result_is_the_limit_and_a_stepped_sweep_the_fallback() {
        let row = |backend: &str, rate: f64, ok: bool, disturbed: bool| SweepRow {
            backend: backend.into(),
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
            disturbed,
        };
        let sweep = [
            row("t", 2_000.0, true, false),
            row("t", 4_000.0, true, false),
            // A disturbed pass is not evidence.
            row("t", 6_000.0, true, true),
            row("t", 8_000.0, false, false),
            row("u", 2_000.0, false, false),
            row("s", 2_000.0, true, false),
        ];
        let found = [SustainableRow {
            backend: "s".into(),
            scenario: Scenario::Iamat,
            rate: 5_100.0,
            highest_pass: 5_100.0,
            lowest_fail: Some(5_300.0),
            precision: 0.04,
            repetitions: 5,
            passed: 5,
            achieved_min: 5_000.0,
            achieved_max: 5_200.0,
            spread: 1.04,
            p99_us: 3_000,
        }];
        let limits = sustainable(&found, &sweep);
        assert_eq!(
            limits["t"],
            Limit {
                rate: 4_000.0,
                p99_us: 4_000,
                ..Limit::default()
            }
        );
        assert_eq!(limits["u"].rate, 0.0, "swept, nothing passed");
        assert_eq!(limits["s"].rate, 5_100.0, "the search's result wins");
        assert_eq!(limits["s"].precision, Some(0.04));
        assert_eq!(steady(&limits["s"]), Some(true));
        assert_eq!(precise(&limits["s"]), Some(true));
        assert_eq!(precise(&limits["t"]), None);
        let coarse = Limit {
            precision: Some(0.051),
            ..limits["s"]
        };
        assert_eq!(precise(&coarse), Some(false));
        assert_eq!(steady(&limits["t"]), None);
        assert!(!limits.contains_key("v"));
        let mut wide = limits["s"];
        wide.spread = Some(1.1001);
        assert_eq!(steady(&wide), Some(false));
        // Confirmed by a majority of its repetitions; a stepped sweep has no confirmation.
        assert_eq!(confirmed(&limits["t"]), None);
        let mut c = limits["s"];
        (c.repetitions, c.passed) = (3, 2);
        assert_eq!(confirmed(&c), Some(true));
        (c.repetitions, c.passed) = (3, 1);
        assert_eq!(confirmed(&c), Some(false));
        (c.repetitions, c.passed) = (4, 2);
        assert_eq!(confirmed(&c), Some(false), "a tie is no majority");
        // Nothing failed up to the cap: no precision to state.
        let capped = SustainableRow {
            lowest_fail: None,
            ..found[0].clone()
        };
        assert_eq!(sustainable(&[capped], &[])["s"].precision, None);
    }

    #[test]
    fn disturbed_rows_are_not_data() {
        let row = |rep: u32, p99: u64, disturbed: bool| SummaryRow {
            backend: "t".into(),
            scenario: Scenario::Iamat,
            repetition: rep,
            target_rate: 1000.0,
            achieved_rate: 1000.0,
            connections: 1,
            pipeline: 1,
            duration_s: 1.0,
            sent: 10,
            ok: 10,
            errors: 0,
            timeouts: 0,
            wrong: 0,
            p50_us: 1,
            p90_us: 1,
            p99_us: p99,
            p999_us: 1,
            max_us: 1,
            mean_us: 1.0,
            server_cpu_us_per_command: 50.0,
            loadgen_cpu_us_per_command: 5.0,
            server_cpu_cores: 0.1,
            peak_rss_sum_bytes: 1,
            peak_rss_max_bytes: 1,
            server_threads: 1,
            loadgen_cpu_cores: 0.1,
            loadgen_bound: false,
            loadavg_1m: 0.0,
            steal_fraction: 0.0,
            outside_cpu_cores: 0.0,
            disturbed,
        };
        let stats = scenario_stats(&[
            row(0, 100, false),
            row(1, 900_000, true),
            row(2, 300, false),
        ]);
        let s = &stats[&("t".to_owned(), Scenario::Iamat)];
        assert_eq!(s.p99_us.n, 2);
        assert_eq!(s.p99_us.max, 300.0);
        assert_eq!(s.sent, 20);
        assert!(scenario_stats(&[row(0, 1, true)]).is_empty());
    }
}
