//! The report as markdown: a pure function of the run, its statistics and its charts.
//!
//! Every number comes from the run's files and the section it appears in names them. The
//! prose around the numbers explains what they mean; it states no figure of its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use herd_records::{Client, Scenario};

use crate::charts::Chart;
use crate::load::Run;
use crate::stats::{
    self, Candidate, Evidence, Fact, Field, Headroom, Limit, Maintenance, Recommendation,
    ScenarioStats, Spread, TIE, idle_bytes_per_connection, scenario_stats,
};

fn ms(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn spread_ms(s: &Spread) -> String {
    if s.n == 0 {
        "–".into()
    } else {
        format!("{} [{}–{}]", ms(s.median), ms(s.min), ms(s.max))
    }
}

/// CPU time per command.
fn us(us: f64) -> String {
    format!("{us:.0} µs")
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

fn rate(r: f64) -> String {
    if r >= 10_000.0 {
        format!("{:.1}k/s", r / 1000.0)
    } else {
        format!("{r:.0}/s")
    }
}

/// A sustained rate: not measured, none, or the rate.
fn sustained(r: Option<f64>) -> String {
    match r {
        None => "not measured".into(),
        Some(r) if r <= 0.0 => "none (the first rate already failed)".into(),
        Some(r) => rate(r),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// Everything the markdown needs, computed once.
struct View<'a> {
    run: &'a Run,
    stats: BTreeMap<(String, Scenario), ScenarioStats>,
    sustainable: BTreeMap<String, Limit>,
    idle: BTreeMap<String, (usize, Spread)>,
    candidates: Vec<Candidate>,
    evidence: Vec<Evidence>,
    field: Field,
}

impl View<'_> {
    fn stat(&self, backend: &str, scenario: Scenario) -> Option<&ScenarioStats> {
        self.stats.get(&(backend.to_owned(), scenario))
    }

    fn info(&self, backend: &str) -> Option<&herd_records::BackendInfo> {
        self.run.meta.backends.iter().find(|b| b.name == backend)
    }

    /// The backend's name, with its language when it is only a reference.
    fn name(&self, backend: &str) -> String {
        match self.info(backend) {
            Some(b) if b.language != stats::RECOMMENDED_LANGUAGE => {
                format!("{backend} ({}, reference)", b.language)
            }
            _ => backend.to_owned(),
        }
    }
}

/// The whole report. `chart_dir` is the charts' folder relative to the report file.
pub fn render(run: &Run, charts: &[Chart], chart_dir: &str) -> String {
    let sustainable = stats::sustainable(&run.sustainable, &run.sweep);
    let idle = idle_bytes_per_connection(&run.idle);
    let stats = scenario_stats(&run.summary);
    let candidates = stats::candidates(&run.meta.backends, &sustainable, &idle);
    let evidence: Vec<Evidence> = candidates
        .iter()
        .map(|c| {
            let whatsat = stats.get(&(c.backend.clone(), Scenario::Whatsat));
            Evidence {
                whatsat_p99_us: whatsat.map(|s| s.p99_us.median),
                whatsat_failed: whatsat.map_or(0, |s| s.failed),
                whatsat_sent: whatsat.map_or(0, |s| s.sent),
                code_lines: run.source.as_ref().and_then(|src| {
                    src.backends
                        .iter()
                        .find(|b| b.backend == c.backend)
                        .map(|b| b.code_lines)
                }),
            }
        })
        .collect();
    let field = stats::field(&candidates, &evidence);
    let view = View {
        run,
        stats,
        sustainable,
        idle,
        candidates,
        evidence,
        field,
    };
    let mut out = String::new();
    header(&mut out, &view);
    recommendation(&mut out, &view);
    machine(&mut out, &view);
    chart_section(&mut out, charts, chart_dir);
    pros_and_cons(&mut out, &view);
    problems(&mut out, &view);
    language(&mut out, &view);
    ease(&mut out, &view);
    performance(&mut out, &view);
    // Sections about backends in other languages (report/src/languages.rs) go here.
    node(&mut out, &view);
    versions(&mut out, &view);
    reproduce(&mut out, &view);
    out
}

fn header(out: &mut String, v: &View<'_>) {
    let m = &v.run.meta;
    let _ = writeln!(out, "# Which concurrency runtime for a Rust server herd?\n");
    let rust: Vec<&str> = v
        .candidates
        .iter()
        .filter(|c| !c.reference())
        .map(|c| c.backend.as_str())
        .collect();
    let references: Vec<String> = v
        .candidates
        .iter()
        .filter(|c| c.reference())
        .map(|c| format!("{} ({})", c.backend, c.language))
        .collect();
    let _ = writeln!(
        out,
        "Measured answer from herdbench run `{}` ({} preset) at revision `{}`{}. Generated by `scripts/report` from `results/{}/`; \
         each table names the file its numbers come from. The question and its sections follow the report \"asyncio for a server herd\", \
         asked here of {}{}.\n",
        m.run_id,
        m.preset,
        &m.git_revision[..m.git_revision.len().min(12)],
        if m.git_dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        m.run_id,
        if rust.is_empty() {
            "no Rust backend".to_owned()
        } else {
            list(&rust)
        },
        if references.is_empty() {
            String::new()
        } else {
            format!(
                ", with {} measured beside them for reference",
                list(&references)
            )
        }
    );
    let selection = stats::selection(&m.command_line);
    if selection.partial() {
        let _ = writeln!(
            out,
            "**A partial run:** it measured only {}{}. Whatever else the sections below would show is marked not measured.\n",
            if selection.backends.is_empty() {
                "every backend".to_owned()
            } else {
                format!("backend {}", list(&selection.backends))
            },
            if selection.scenarios.is_empty() {
                String::new()
            } else {
                format!(", scenario {}", list(&selection.scenarios))
            }
        );
    }
}

fn recommendation(out: &mut String, v: &View<'_>) {
    let (verdict, ranked) = stats::recommend(&v.candidates);
    let _ = writeln!(out, "## Recommendation\n");
    match verdict {
        Recommendation::Winner { winner, .. } => {
            let _ = writeln!(out, "**Build the herd on {}.**\n", winner.backend);
        }
        Recommendation::NoCandidate => {
            let _ = writeln!(
                out,
                "**No recommendation:** this run holds no maintained {} backend.\n",
                stats::RECOMMENDED_LANGUAGE
            );
        }
        Recommendation::NotMeasured => {
            let _ = writeln!(
                out,
                "**No recommendation: the deciding figure was not measured.** The sweep (`sweep.csv`) did not run for any maintained {} backend in this run.\n",
                stats::RECOMMENDED_LANGUAGE
            );
        }
        Recommendation::NoneSustained => {
            let _ = writeln!(
                out,
                "**No recommendation:** no maintained {} backend sustained even the first rate of its sweep in this run.\n",
                stats::RECOMMENDED_LANGUAGE
            );
        }
    }
    let _ = writeln!(
        out,
        "The rule, applied by `report/src/stats.rs` to this run's data: only maintained {} runtimes can be recommended (backends in other \
         languages are measured as references); the highest IAMAT rate sustained in the sweep (p99 at most {} ms, no errors, at least 95% \
         of the offered rate achieved) wins; rates within {:.0}% of the best count as a tie, and a tie goes to the lower resident memory \
         per idle connection.\n",
        stats::RECOMMENDED_LANGUAGE,
        v.run.meta.p99_objective_us / 1000,
        TIE * 100.0
    );
    let _ = writeln!(
        out,
        "| backend | maintenance | max sustainable IAMAT rate (p99 there) | found to | confirmation: spread (max/min), passed | memory per idle connection | WHATSAT p99, slow upstream | server CPU per IAMAT |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for c in &ranked {
        let status = v
            .info(&c.backend)
            .map_or("?".to_owned(), |b| match stats::maintenance(b) {
                Maintenance::Maintained => b.maintenance_status.clone(),
                Maintenance::Not { status, since, .. } => match since {
                    Some(since) => format!("{status} since {since}"),
                    None => status,
                },
            });
        let limit = v.sustainable.get(&c.backend);
        let at = match limit {
            Some(l) if l.rate > 0.0 => format!(" ({})", ms(l.p99_us as f64)),
            _ => String::new(),
        };
        let (found_to, confirmation) = limit.map_or(("–".to_owned(), "–".to_owned()), |l| {
            (
                l.precision
                    .map_or("–".to_owned(), |p| format!("{:.1}%", p * 100.0)),
                l.spread.map_or("–".to_owned(), |s| {
                    format!("{s:.3}, {} of {}", l.passed, l.repetitions)
                }),
            )
        });
        let idle = v
            .idle
            .get(&c.backend)
            .map_or("not measured".to_owned(), |(k, s)| {
                format!("{} at {k} connections", kib(s.median))
            });
        let whatsat = v
            .stat(&c.backend, Scenario::Whatsat)
            .map_or("not measured".to_owned(), |s| spread_ms(&s.p99_us));
        let cpu = v
            .stat(&c.backend, Scenario::Iamat)
            .map_or("not measured".to_owned(), |s| {
                us(s.cpu_us_per_command.median)
            });
        let _ = writeln!(
            out,
            "| {} | {status} | {}{at} | {found_to} | {confirmation} | {idle} | {whatsat} | {cpu} |",
            v.name(&c.backend),
            sustained(c.sustainable_rate)
        );
    }
    if let Recommendation::Winner {
        winner,
        runner_up,
        tie,
    } = verdict
    {
        let _ = write!(
            out,
            "\n{} sustained {}",
            winner.backend,
            sustained(winner.sustainable_rate)
        );
        match runner_up {
            Some(r) if tie => {
                let _ = write!(
                    out,
                    " and {} {}, a tie within {:.0}%, which the lower memory per idle connection decided",
                    r.backend,
                    sustained(r.sustainable_rate),
                    TIE * 100.0
                );
            }
            Some(r) => {
                let _ = write!(
                    out,
                    " against {} for {}",
                    sustained(r.sustainable_rate),
                    r.backend
                );
            }
            None => {}
        }
        let _ = writeln!(
            out,
            "; medians with [min–max] over repetitions. Sources: {}`sweep.csv`, `idle.csv`, `summary.csv`, `meta.json`.",
            if v.run.sustainable.is_empty() {
                ""
            } else {
                "`sustainable.csv`, "
            }
        );
        if let Some(l) = v.sustainable.get(&winner.backend) {
            deciding_figure(out, &winner.backend, l);
        }
        references(out, v, winner);
    }
    let _ = writeln!(out);
}

/// How firmly the winner's rate was measured.
fn deciding_figure(out: &mut String, backend: &str, l: &Limit) {
    let found = l
        .precision
        .map(|p| format!(", found to within {:.1}%", p * 100.0))
        .unwrap_or_default();
    match (stats::steady(l), l.spread) {
        (Some(true), Some(spread)) => {
            let _ = writeln!(
                out,
                "
The deciding figure, {backend}'s {}{found}, held over {} confirmation repetitions ({} passed) with a spread of {spread:.3} (max/min achieved rate): within the {:.0}% the verdict needs.",
                rate(l.rate),
                l.repetitions,
                l.passed,
                stats::MAX_SPREAD * 100.0
            );
        }
        (_, Some(spread)) => {
            let _ = writeln!(
                out,
                "
**The deciding figure is not steady in this run:** {backend}'s {}{found} spread by {spread:.3} (max/min achieved rate) over {} confirmation repetitions ({} passed), more than the {:.0}% the verdict needs; rerun on a quiet machine before relying on it.",
                rate(l.rate),
                l.repetitions,
                l.passed,
                stats::MAX_SPREAD * 100.0
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "
The deciding figure, {backend}'s {}, comes from a stepped sweep without confirmation repetitions, so its spread is not known.",
                rate(l.rate)
            );
        }
    }
}

/// What the reference backends (other languages) mean for a team choosing between them and
/// the recommended Rust backend.
fn references(out: &mut String, v: &View<'_>, winner: &Candidate) {
    for r in stats::references(&v.candidates, winner) {
        let mut facts = Vec::new();
        if let Some(x) = r.rate_ratio {
            facts.push(format!(
                "sustained {:.2}× {}'s IAMAT rate",
                x, winner.backend
            ));
        }
        if let Some(x) = r.idle_ratio {
            facts.push(format!("held {:.2}× its memory per idle connection", x));
        }
        let meaning = match r.rate_ratio {
            None => "its rate was not measured in this run, so the cost of staying in that language is not shown".to_owned(),
            Some(x) if x < 1.0 - TIE => format!(
                "a team that stays in {} gives up that much headroom per machine, or runs about {:.1}× the servers for the same load",
                r.language,
                1.0 / x.max(f64::MIN_POSITIVE)
            ),
            Some(x) if x > 1.0 + TIE => format!(
                "in this run {} was faster, so Rust's case here rests on the other rows (memory, latency, maintenance), not on throughput",
                r.language
            ),
            Some(_) => format!(
                "within {:.0}%: on throughput alone this run gives no reason to move from {} to Rust",
                TIE * 100.0,
                r.language
            ),
        };
        let _ = writeln!(
            out,
            "\n{} ({}, reference): {}{}{meaning}.",
            r.backend,
            r.language,
            list(&facts),
            if facts.is_empty() { "" } else { "; " }
        );
    }
}
fn machine(out: &mut String, v: &View<'_>) {
    let m = &v.run.meta;
    let h = &m.host;
    let _ = writeln!(out, "## Machine, method and caveats\n");
    let _ = writeln!(
        out,
        "- Machine: {} with {} cores, {:.1} GiB memory, Linux {}, {}; host `{}` (`meta.json`).",
        h.cpu_model,
        h.cores,
        h.memory_bytes as f64 / f64::from(1u32 << 30),
        h.kernel,
        m.rustc,
        h.hostname
    );
    let threads: Vec<String> = m
        .backends
        .iter()
        .map(|b| b.threads)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|t| format!("`--threads {t}`"))
        .collect();
    let _ = writeln!(
        out,
        "- Every backend ran the default five-server herd as five processes with {}, plus the places service answering \
         with {} added latency for the query scenarios; server logs were {}. The load generator used {} event-loop thread(s).",
        if threads.is_empty() {
            "no backend".to_owned()
        } else {
            list(&threads)
        },
        m.places_latency,
        if m.server_logs { "on" } else { "off" },
        m.loadgen_threads
    );
    let cpus = |c: &[usize]| list(&c.iter().map(usize::to_string).collect::<Vec<_>>());
    let _ = writeln!(
        out,
        "- CPU placement (`meta.json`): {}",
        match stats::placement(m) {
            stats::Placement::Shared =>
                "none; the load generator, the servers and the places service shared every core."
                    .to_owned(),
            stats::Placement::Pinned {
                loadgen,
                servers,
                disjoint,
            } => format!(
                "the load generator on CPU {}, the servers and the places service on CPU {}{}",
                if loadgen.is_empty() {
                    "any".to_owned()
                } else {
                    cpus(&loadgen)
                },
                if servers.is_empty() {
                    "any".to_owned()
                } else {
                    cpus(&servers)
                },
                if disjoint {
                    ": disjoint cores, so the instrument took no CPU from the herd."
                } else {
                    ": **the sets overlap, so the load generator competed with the herd for CPU.**"
                }
            ),
        }
    );
    let _ = writeln!(
        out,
        "- Load is open loop at fixed rates with latency from each command's intended send time (no coordinated omission), after a warm-up; each point was repeated and the spread is shown as [min–max]."
    );
    // Every backend's rate counts here: the instrument has to keep up with the fastest herd.
    let best_herd = v
        .candidates
        .iter()
        .filter_map(|c| c.sustainable_rate)
        .reduce(f64::max);
    match stats::headroom(&v.run.ceiling, best_herd) {
        Headroom::Ratio {
            ceiling,
            best_herd,
            ratio,
            enough,
        } => {
            let _ = writeln!(
                out,
                "- The load generator reached {} strict request/reply against a responder with no runtime (`ceiling.csv`), {ratio:.1}× the best sustained herd rate ({}): {}",
                rate(ceiling),
                rate(best_herd),
                if enough {
                    "the instrument was not the limit."
                } else {
                    "**the load generator may have been the limit; treat the top rates with care.**"
                }
            );
        }
        Headroom::NoHerdRate { ceiling, swept } => {
            let _ = writeln!(
                out,
                "- The load generator reached {} strict request/reply against a responder with no runtime (`ceiling.csv`); {}, so no ratio to the herds is stated.",
                rate(ceiling),
                if swept {
                    "no herd sustained even the first rate of its sweep"
                } else {
                    "the sweep did not run"
                }
            );
        }
        Headroom::NotMeasured => {
            let _ = writeln!(
                out,
                "- The load generator's ceiling was not measured in this run, so whether it limited the top rates is not shown."
            );
        }
    }
    let shapes = stats::instrument(&v.run.ceiling);
    if shapes.is_empty() {
        let _ = writeln!(
            out,
            "- The load generator's overhead against a bare client (no timing, no checks) was not measured in this run."
        );
    }
    for s in &shapes {
        let _ = writeln!(
            out,
            "- {}, {} connections{}: the load generator reached {} against the bare client's {} (`ceiling.csv`), {:.0}% of it: {}",
            if s.pipeline == 1 {
                "Strict request/reply"
            } else {
                "Pipelined"
            },
            s.connections,
            if s.pipeline == 1 {
                String::new()
            } else {
                format!(" × {} in flight", s.pipeline)
            },
            rate(s.loadgen),
            rate(s.bare),
            s.ratio * 100.0,
            if s.enough {
                format!(
                    "at least the {:.0}% that makes it never the limit.",
                    stats::INSTRUMENT * 100.0
                )
            } else {
                format!(
                    "**below {:.0}%: in this shape the instrument costs more than the comparison can afford.**",
                    stats::INSTRUMENT * 100.0
                )
            }
        );
    }
    let bound: Vec<String> = v
        .stats
        .iter()
        .filter(|(_, s)| s.loadgen_bound)
        .map(|((b, s), _)| format!("{b}/{s}"))
        .collect();
    if !bound.is_empty() {
        let _ = writeln!(
            out,
            "- Runs where the load generator fell behind its own schedule: {}.",
            bound.join(", ")
        );
    }
    let missing = stats::not_measured(v.run);
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|m| match m {
                stats::Unmeasured::Scenario(Scenario::Sweep) => {
                    "the sweep (the sustainable rate)".to_owned()
                }
                stats::Unmeasured::Scenario(Scenario::Idle) => "idle connections".to_owned(),
                stats::Unmeasured::Scenario(Scenario::Propagation) => "propagation".to_owned(),
                stats::Unmeasured::Scenario(s) => format!("the {s} scenario"),
                stats::Unmeasured::Ceiling => "the load generator's ceiling".to_owned(),
                stats::Unmeasured::Source => "the source facts (`source.json`)".to_owned(),
            })
            .collect();
        let _ = writeln!(out, "- Not measured in this run: {}.", list(&names));
    }
    let _ = writeln!(
        out,
        "- Caveat: one shared machine, loopback only. The numbers compare runtimes with each other on the same hardware; they are not the capacity of a production herd.\n"
    );
}

fn chart_section(out: &mut String, charts: &[Chart], chart_dir: &str) {
    let _ = writeln!(out, "## Charts\n");
    for c in charts {
        let file = c
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "![{}]({chart_dir}/{file})\n\n*{}* (from {})\n",
            c.title,
            c.title,
            c.sources
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// One judged fact as a phrase.
fn fact(f: &Fact, pro: bool) -> String {
    match f {
        Fact::Rate { rate: r, best } if pro => format!(
            "sustained {} IAMAT, within {:.0}% of the best",
            sustained(Some(*r)),
            TIE * 100.0
        ),
        Fact::Rate { rate: r, best } => format!(
            "sustained {} IAMAT against the best {}",
            sustained(Some(*r)),
            sustained(Some(*best))
        ),
        Fact::RateAbove { rate: r, best } => format!(
            "sustained {} IAMAT, above the best recommendable backend's {}",
            sustained(Some(*r)),
            sustained(Some(*best))
        ),
        Fact::IdleMemory { bytes, .. } if pro => {
            format!("{} resident per idle connection", kib(*bytes))
        }
        Fact::IdleMemory { bytes, best } => format!(
            "{} resident per idle connection against the best {}",
            kib(*bytes),
            kib(*best)
        ),
        Fact::WhatsatP99 { us, .. } if pro => {
            format!("WHATSAT p99 {} with a slow upstream", ms(*us))
        }
        Fact::WhatsatP99 { us, best } => format!(
            "WHATSAT p99 {} with a slow upstream against the best {}",
            ms(*us),
            ms(*best)
        ),
        Fact::WhatsatFailures { failed, sent } => {
            format!("{failed} of {sent} WHATSATs failed or timed out")
        }
        Fact::CodeLines { lines, .. } => format!("{lines} lines of shell code"),
        Fact::Maintenance(Maintenance::Maintained) => "maintained upstream".into(),
        Fact::Maintenance(Maintenance::Not {
            status,
            advisory,
            note,
            ..
        }) => format!(
            "{status}{}{}",
            advisory
                .as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default(),
            note.as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        ),
    }
}

fn pros_and_cons(out: &mut String, v: &View<'_>) {
    let _ = writeln!(
        out,
        "## Pros and cons of each runtime, from the measurements\n"
    );
    let _ = writeln!(
        out,
        "Each figure is set against the best of this run's maintained {} backends: a rate within {:.0}%, memory and WHATSAT \
         latency within {:.0}%, and shell code within {:.0}% of the smallest count as a pro (`report/src/stats.rs`).\n",
        stats::RECOMMENDED_LANGUAGE,
        TIE * 100.0,
        stats::NEAR_BEST * 100.0,
        stats::CODE_SLACK * 100.0
    );
    for (c, e) in v.candidates.iter().zip(&v.evidence) {
        let Some(info) = v.info(&c.backend) else {
            continue;
        };
        let judged = stats::judge(c, e, stats::maintenance(info), &v.field);
        let side = |pro: bool| -> String {
            let items: Vec<String> = judged
                .iter()
                .filter(|j| j.pro == pro)
                .map(|j| fact(&j.fact, j.pro))
                .collect();
            if items.is_empty() {
                "nothing stood out in this run".into()
            } else {
                items.join("; ")
            }
        };
        let _ = writeln!(out, "**{}** (`{}`)\n", v.name(&c.backend), info.runtime);
        let _ = writeln!(out, "- Pro: {}", side(true));
        let _ = writeln!(out, "- Con: {}\n", side(false));
    }
    let _ = writeln!(
        out,
        "Sources: `sweep.csv`, `idle.csv`, `summary.csv`, `source.json`, `meta.json`.\n"
    );
}

fn problems(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Problems met\n");
    let _ = writeln!(
        out,
        "What the harness itself recorded while building and running the herds (`meta.json` problems, `summary.csv` failures, `failures.csv`, failed `ceiling.csv` shapes, disturbed rows of `summary.csv` and `sweep.csv`):\n"
    );
    let mut any = false;
    for p in &v.run.meta.problems {
        any = true;
        let _ = writeln!(
            out,
            "- {} / {}: {}",
            p.backend,
            p.scenario,
            p.what.lines().next().unwrap_or_default()
        );
    }
    for ((backend, scenario), s) in &v.stats {
        if s.failed > 0 {
            any = true;
            let _ = writeln!(
                out,
                "- {backend} / {scenario}: {} of {} commands failed, timed out or got a wrong reply.",
                s.failed, s.sent
            );
        }
    }
    for f in stats::failures(&v.run.failures, &v.run.ceiling) {
        any = true;
        let _ = match f {
            stats::Failure::Point(p) => writeln!(
                out,
                "- {} / {}: **failed** at {} after {} attempt(s): {}. No data row stands for it.",
                v.name(&p.backend),
                p.scenario,
                p.point,
                p.attempts,
                p.reason.lines().next().unwrap_or_default()
            ),
            stats::Failure::Ceiling {
                client,
                connections,
                pipeline,
                reason,
            } => writeln!(
                out,
                "- ceiling / {} client, {connections} connections × {pipeline} in flight: **failed**: {}. No data row stands for it.",
                match client {
                    Client::Bare => "bare",
                    Client::Loadgen => "load generator",
                },
                reason.lines().next().unwrap_or_default()
            ),
        };
    }
    for d in stats::disturbed(&v.run.summary, &v.run.sweep) {
        any = true;
        let _ = writeln!(
            out,
            "- {} / {} at {}{}: **disturbed** (load average {:.2}, steal {:.1}%, {:.2} cores used outside the run) after its retries; left out of every table and chart.",
            v.name(&d.backend),
            d.scenario,
            rate(d.target_rate),
            d.repetition
                .map(|r| format!(", repetition {r}"))
                .unwrap_or_default(),
            d.loadavg_1m,
            d.steal_fraction * 100.0,
            d.outside_cpu_cores
        );
    }
    // A search fails points on purpose (that is how it brackets the limit): only a stepped
    // sweep's failures are problems worth a line.
    let searched = |b: &str| v.run.sustainable.iter().any(|r| r.backend == b);
    for r in v
        .run
        .sweep
        .iter()
        .filter(|r| !r.sustainable && !r.disturbed && !searched(&r.backend))
    {
        any = true;
        let why = if r.error_fraction > 0.0 {
            format!("{:.2}% of commands failed", r.error_fraction * 100.0)
        } else {
            format!("p99 {}", ms(r.p99_us as f64))
        };
        let _ = writeln!(
            out,
            "- {} / sweep: not sustainable at {} ({why}).",
            r.backend,
            rate(r.target_rate)
        );
    }
    if !any {
        let _ = writeln!(out, "- none recorded in this run.");
    }
    let _ = writeln!(out);
}

fn feature_table(out: &mut String, v: &View<'_>) {
    let Some(source) = &v.run.source else { return };
    let mut names: Vec<&String> = source
        .backends
        .iter()
        .flat_map(|b| b.features.keys())
        .collect();
    names.sort();
    names.dedup();
    let _ = writeln!(
        out,
        "| backend | {} |",
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
    for b in &source.backends {
        let cells: Vec<String> = names
            .iter()
            .map(|n| b.features.get(*n).copied().unwrap_or(0).to_string())
            .collect();
        let _ = writeln!(out, "| {} | {} |", b.backend, cells.join(" | "));
    }
    let _ = writeln!(out, "\nCounts from the shells' source (`source.json`).\n");
}

/// What each runtime's task handle does when dropped, by runtime crate; only the runtimes a
/// run holds are named.
const CANCELLATION: &[(&str, &str)] = &[
    ("tokio", "tokio's `JoinHandle` needs an explicit `abort()`"),
    ("smol", "smol's `Task` cancels when dropped"),
    (
        "async-std",
        "async-std's handle detaches when dropped, so its link code shuts the socket down to stop a writer",
    ),
];

fn language(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Language-related issues\n");
    feature_table(out, v);
    let rust: Vec<&herd_records::BackendInfo> = v
        .run
        .meta
        .backends
        .iter()
        .filter(|b| b.language == stats::RECOMMENDED_LANGUAGE)
        .collect();
    let handles: Vec<&str> = CANCELLATION
        .iter()
        .filter(|(krate, _)| {
            rust.iter()
                .any(|b| b.runtime_crates.iter().any(|c| c == krate))
        })
        .map(|(_, what)| *what)
        .collect();
    let shells = match rust.len() {
        0 => "no Rust shell in this run".to_owned(),
        1 => "the one Rust shell of this run".to_owned(),
        n => format!("each of the {n} Rust shells of this run"),
    };
    let _ = writeln!(
        out,
        "- **Ownership and `Send`.** Every shell shares one `Node` between connections, so it sits in an `Arc<Mutex<…>>` in {shells}; a spawned task or thread must own what it touches (`'static`), which is why each connection gets an `Arc` clone. A multi-threaded executor's `spawn` also demands `Send` futures, so holding the (std) mutex guard across an `.await` is a compile error rather than a deadlock: the shells take the lock only for one synchronous call into the core."
    );
    if !handles.is_empty() {
        let _ = writeln!(
            out,
            "- **Cancellation.** Dropping a future cancels it at its next `.await`. The runtimes differ in what a task handle does: {} (see `herd-*/src/link.rs`).",
            list(&handles)
        );
    }
    let _ = writeln!(
        out,
        "- **Blocking in async code.** A blocking call inside a task stalls every task on that worker. The places request is the only slow operation; the async shells make it with the runtime's own sockets and timers, a threaded shell with blocking sockets and per-call timeouts.\n\
         - **Coloured functions.** The protocol core is plain synchronous Rust with no I/O (sans-IO), so the Rust shells all call the very same functions; only the thin shells are `async` or not. That is what keeps the comparison fair, and it is the main design lesson: keep `async` at the edges.\n"
    );
}

fn ease(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Ease of use\n");
    let Some(source) = &v.run.source else {
        let _ = writeln!(out, "No `source.json` in this run.\n");
        return;
    };
    let _ = writeln!(
        out,
        "All protocol logic lives in the shared core (`protocol/`, {} lines of code) and the runtime-neutral support crate (`shell/`, {} lines); each backend is a shell of the same four files.\n",
        source.protocol_code_lines, source.shell_code_lines
    );
    let _ = writeln!(
        out,
        "| backend | shell code lines | runtime items used | dependency crates | runtime API |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for b in &source.backends {
        let api: Vec<String> = b.runtime_api.keys().map(|k| format!("`{k}`")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            b.backend,
            b.code_lines,
            b.runtime_api.len(),
            b.dependency_count,
            api.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nFrom the source at the measured revision (`source.json`).\n"
    );
}

fn performance(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Performance implications\n");
    let _ = writeln!(
        out,
        "Fixed-rate scenarios, median [min–max] over repetitions (`summary.csv`):\n"
    );
    let _ = writeln!(
        out,
        "| backend | scenario | achieved | p50 | p99 | p99.9 | server CPU per command | load generator CPU per command | peak RSS, 5 servers | failed |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for ((backend, scenario), s) in &v.stats {
        let _ = writeln!(
            out,
            "| {} | {scenario} | {} | {} | {} | {} | {} | {} | {:.1} MiB | {} |",
            v.name(backend),
            rate(s.achieved_rate.median),
            spread_ms(&s.p50_us),
            spread_ms(&s.p99_us),
            spread_ms(&s.p999_us),
            us(s.cpu_us_per_command.median),
            us(s.loadgen_cpu_us_per_command.median),
            s.peak_rss_sum_bytes.median / f64::from(1u32 << 20),
            s.failed
        );
    }
    if !v.run.propagation.is_empty() {
        let _ = writeln!(out, "\nPropagation of an update (`propagation.csv`):\n");
        let _ = writeln!(out, "| backend | hops | samples | p50 | p99 |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for r in &v.run.propagation {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                v.name(&r.backend),
                r.hops,
                r.samples,
                ms(r.p50_us as f64),
                ms(r.p99_us as f64)
            );
        }
    }
    if !v.run.idle.is_empty() {
        let _ = writeln!(
            out,
            "\nIdle connections (`idle.csv`), median over repetitions:\n"
        );
        let _ = writeln!(
            out,
            "| backend | connections | per connection | server threads |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        let mut keys: Vec<(String, usize)> = v
            .run
            .idle
            .iter()
            .map(|r| (r.backend.clone(), r.connections))
            .collect();
        keys.sort();
        keys.dedup();
        for (b, k) in keys {
            let rows: Vec<_> = v
                .run
                .idle
                .iter()
                .filter(|r| r.backend == b && r.connections == k)
                .collect();
            let per = crate::stats::spread(rows.iter().map(|r| r.bytes_per_connection));
            let threads = rows.iter().map(|r| r.threads_after).max().unwrap_or(0);
            let _ = writeln!(
                out,
                "| {} | {k} | {} [{}–{}] | {threads} |",
                v.name(&b),
                kib(per.median),
                kib(per.min),
                kib(per.max)
            );
        }
    }
    let _ = writeln!(out);
}

fn node(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Compared with Node.js\n");
    let rust = v
        .run
        .meta
        .backends
        .iter()
        .filter(|b| b.language == stats::RECOMMENDED_LANGUAGE);
    let (threaded, pooled): (Vec<_>, Vec<_>) = rust.partition(|b| b.runtime_crates.is_empty());
    let names = |bs: &[&herd_records::BackendInfo]| {
        list(&bs.iter().map(|b| b.name.as_str()).collect::<Vec<_>>())
    };
    let node_measured = v
        .run
        .meta
        .backends
        .iter()
        .any(|b| b.language.contains("Node"));
    let _ = writeln!(
        out,
        "Node.js runs one event loop on one thread per process and makes every socket operation asynchronous; a herd server in Node \
         would look like the event-loop shells here with one worker thread, and would need several processes (or worker threads with \
         message passing) to use more than one core. {} the event-loop model but run it on a pool of \
         threads that share one address space, so a single server uses every core with the same code, at the price of `Send` bounds \
         and explicit locking that Node's single thread never needs. Like Node, the async shells keep thousands of idle connections \
         cheap (see the idle table); {} the thread-per-connection cost that both designs avoid.{}\n",
        match pooled.len() {
            0 => "The Rust async runtimes (none in this run) keep".to_owned(),
            1 => format!("{} keeps", names(&pooled)),
            _ => format!("{} keep", names(&pooled)),
        },
        if threaded.is_empty() {
            "no backend of this run shows".to_owned()
        } else {
            format!("{} shows", names(&threaded))
        },
        if node_measured {
            ""
        } else {
            " This run did not measure Node.js itself."
        }
    );
}

fn versions(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Reliance on recent Rust and crate versions\n");
    let Some(source) = &v.run.source else {
        let _ = writeln!(out, "No `source.json` in this run.\n");
        return;
    };
    let _ = writeln!(
        out,
        "| backend | highest `rust-version`, all third-party crates | declared by | same, only crates its runtime adds | declared by | crates in its tree | let chains used (need Rust 1.88) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for b in &source.backends {
        let chains = b
            .features
            .get("let chains (Rust 1.88)")
            .copied()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {chains} |",
            b.backend,
            b.msrv.as_deref().unwrap_or("none declared"),
            b.msrv_set_by.as_deref().unwrap_or("–"),
            b.runtime_msrv.as_deref().unwrap_or("none declared"),
            b.runtime_msrv_set_by.as_deref().unwrap_or("–"),
            b.dependency_count
        );
    }
    let versions: Vec<String> = v
        .run
        .meta
        .crate_versions
        .iter()
        .map(|(k, ver)| format!("{k} {ver}"))
        .collect();
    let _ = writeln!(
        out,
        "\nBuilt with {}; crate versions from `Cargo.lock`: {}. The project's own crates declare `rust-version` 1.88 and use the 2024 edition (Rust 1.85 or later). A toolchain older \
         than a backend's highest `rust-version` cannot build that backend with these versions: getting by with an older Rust means \
         pinning older releases of the crates named above and rewriting any let chains, and the table shows how far each runtime's \
         tree pulls the minimum up (`source.json`, `meta.json`).\n",
        v.run.meta.rustc,
        versions.join(", ")
    );
}

fn reproduce(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Reproduce\n");
    let _ = writeln!(
        out,
        "`scripts/bench-all` runs the whole suite and regenerates this report; `scripts/report` regenerates it from the results on disk. This run's command line:\n"
    );
    let _ = writeln!(out, "```\n{}\n```", v.run.meta.command_line.join(" "));
}
