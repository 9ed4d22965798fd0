//! The numbers the report states, and the rule that picks a recommendation. Pure functions
//! over loaded records, tested against fixed inputs.

use std::collections::BTreeMap;

use crate::load::Run;
use herd_records::{BackendInfo, CeilingRow, IdleRow, SummaryRow, SweepRow};

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
    for r in rows.iter().filter(|r| r.scenario != "sweep") {
        groups
            .entry((r.backend.clone(), r.scenario.clone()))
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
                cpu_ms_per_1000: spread(rs.iter().map(|r| r.cpu_ms_per_1000)),
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

/// The load generator must reach this multiple of the best herd rate against the
/// runtime-free responder for the top rates to be the herd's, not the instrument's.
pub const HEADROOM: f64 = 2.0;

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
    sustainable: &BTreeMap<String, (f64, u64)>,
    idle: &BTreeMap<String, (usize, Spread)>,
) -> Vec<Candidate> {
    backends
        .iter()
        .map(|b| Candidate {
            backend: b.name.clone(),
            language: b.language.clone(),
            maintained: maintained(b),
            sustainable_rate: sustainable.get(&b.name).map(|s| s.0),
            idle_bytes: idle.get(&b.name).map(|i| i.1.median),
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
        f.best_rate = max(f.best_rate, c.sustainable_rate);
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
    if let (Some(rate), Some(best)) = (c.sustainable_rate, f.best_rate) {
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

/// Whether the load generator had room above the herds, from the strict request/reply rows
/// of `ceiling.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Headroom {
    /// No ceiling measurement in the run.
    NotMeasured,
    /// A ceiling, but no herd rate to set it against (no sweep ran).
    NoHerdRate { ceiling: f64 },
    Ratio {
        ceiling: f64,
        best_herd: f64,
        ratio: f64,
        /// At least [`HEADROOM`]: the instrument was not the limit.
        enough: bool,
    },
}

/// The ceiling against the best sustained herd rate; `best_herd` is `None` when no sweep ran
/// (or none sustained anything), and then no ratio is computed.
pub fn headroom(ceiling: &[CeilingRow], best_herd: Option<f64>) -> Headroom {
    let Some(ceiling) = ceiling
        .iter()
        .filter(|c| c.pipeline == 1 && c.achieved_rate > 0.0)
        .map(|c| c.achieved_rate)
        .reduce(f64::max)
    else {
        return Headroom::NotMeasured;
    };
    match best_herd.filter(|b| *b > 0.0) {
        None => Headroom::NoHerdRate { ceiling },
        Some(best_herd) => {
            let ratio = ceiling / best_herd;
            Headroom::Ratio {
                ceiling,
                best_herd,
                ratio,
                enough: ratio >= HEADROOM,
            }
        }
    }
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

/// The backends and scenarios a run's command line selected; both empty for a whole run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    pub backends: Vec<String>,
    pub scenarios: Vec<String>,
}

impl Selection {
    /// A run that measured only part of the suite.
    pub fn partial(&self) -> bool {
        !self.backends.is_empty() || !self.scenarios.is_empty()
    }
}

/// Reads `--backend X` / `--backend=X` and `--scenario X` / `--scenario=X` from the command
/// line recorded in `meta.json`.
pub fn selection(command_line: &[String]) -> Selection {
    let mut sel = Selection::default();
    let mut args = command_line.iter();
    while let Some(arg) = args.next() {
        for (flag, into) in [
            ("--backend", &mut sel.backends),
            ("--scenario", &mut sel.scenarios),
        ] {
            if arg == flag {
                into.extend(args.next().cloned());
            } else if let Some(value) = arg.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
                into.push(value.to_owned());
            }
        }
    }
    sel
}

/// The parts of the suite a run holds no data for, in the suite's order, named as the
/// report names them.
pub fn not_measured(run: &Run) -> Vec<&'static str> {
    let has = |scenario: &str| run.summary.iter().any(|r| r.scenario == scenario);
    let mut out = Vec::new();
    for (scenario, what) in [
        ("iamat", "the iamat scenario"),
        ("whatsat", "the whatsat scenario"),
        ("mixed", "the mixed scenario"),
    ] {
        if !has(scenario) {
            out.push(what);
        }
    }
    if run.propagation.is_empty() {
        out.push("propagation");
    }
    if run.idle.is_empty() {
        out.push("idle connections");
    }
    if !has("churn") {
        out.push("the churn scenario");
    }
    if run.sweep.is_empty() {
        out.push("the sweep (the sustainable rate)");
    }
    if run.ceiling.is_empty() {
        out.push("the load generator's ceiling");
    }
    if run.source.is_none() {
        out.push("the source facts (`source.json`)");
    }
    out
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
    fn headroom_needs_both_a_ceiling_and_a_herd_rate() {
        let row = |pipeline: usize, rate: f64| CeilingRow {
            connections: 16,
            pipeline,
            achieved_rate: rate,
            p99_us: 1,
            loadgen_cpu_cores: 1.0,
            responder_cpu_cores: 1.0,
        };
        assert_eq!(headroom(&[], Some(1.0)), Headroom::NotMeasured);
        // Pipelined rows and zero rows are not the strict ceiling.
        assert_eq!(
            headroom(&[row(16, 400_000.0), row(1, 0.0)], Some(1.0)),
            Headroom::NotMeasured
        );
        let rows = [row(1, 60_000.0), row(1, 80_000.0), row(16, 400_000.0)];
        assert_eq!(
            headroom(&rows, None),
            Headroom::NoHerdRate { ceiling: 80_000.0 }
        );
        assert_eq!(
            headroom(&rows, Some(0.0)),
            Headroom::NoHerdRate { ceiling: 80_000.0 }
        );
        assert_eq!(
            headroom(&rows, Some(40_000.0)),
            Headroom::Ratio {
                ceiling: 80_000.0,
                best_herd: 40_000.0,
                ratio: 2.0,
                enough: true
            }
        );
        assert!(matches!(
            headroom(&rows, Some(40_001.0)),
            Headroom::Ratio { enough: false, .. }
        ));
    }

    #[test]
    fn max_sustainable_takes_the_highest_passing_step() {
        let row = |rate: f64, ok: bool| SweepRow {
            backend: "t".into(),
            scenario: "iamat".into(),
            step: 0,
            target_rate: rate,
            achieved_rate: rate,
            p50_us: 1,
            p99_us: rate as u64,
            p99_min_us: 0,
            p99_max_us: 0,
            error_fraction: 0.0,
            sustainable: ok,
        };
        let best = max_sustainable(&[row(2_000.0, true), row(4_000.0, true), row(8_000.0, false)]);
        assert_eq!(best["t"], (4_000.0, 4_000));
    }

    #[test]
    fn a_selection_on_the_command_line_makes_a_partial_run() {
        let line = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let sel = selection(&line(
            "loadgen run --backend tokio --scenario=iamat --backend=smol --full",
        ));
        assert_eq!(sel.backends, ["tokio", "smol"]);
        assert_eq!(sel.scenarios, ["iamat"]);
        assert!(sel.partial());
        assert!(!selection(&line("loadgen run --run-id x --out results/x --full")).partial());
        // A flag at the very end with no value selects nothing.
        assert_eq!(
            selection(&line("loadgen run --backend")),
            Selection::default()
        );
        // `--backends-dir`-like flags are not a selection.
        assert!(!selection(&line("loadgen run --backendx=1")).partial());
    }
}
