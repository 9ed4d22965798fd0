//! The recommendation and the pros and cons: the judgements of `stats` in words.

use std::fmt::Write as _;

use herd_records::Scenario;

use super::{View, kib, list, ms, rate, spread_ms, sustained, us};
use crate::stats::{self, Candidate, Fact, Limit, Maintenance, Recommendation, TIE};

pub(super) fn recommendation(out: &mut String, v: &View<'_>) {
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
         per idle connection. A rate most of whose confirmation repetitions failed was tried, not sustained: it decides only if no \
         backend's limit held.\n",
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
                match (l.precision, stats::precise(l)) {
                    (Some(p), Some(true)) => format!("{:.1}%", p * 100.0),
                    (Some(p), _) => format!(
                        "**{:.1}%**, coarser than {:.0}%",
                        p * 100.0,
                        stats::PRECISION * 100.0
                    ),
                    _ => "–".to_owned(),
                },
                match (l.spread, stats::confirmed(l)) {
                    (Some(_), Some(false)) => {
                        format!("**not confirmed**: {} of {}", l.passed, l.repetitions)
                    }
                    (Some(s), _) => format!("{s:.3}, {} of {}", l.passed, l.repetitions),
                    _ => "–".to_owned(),
                },
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
                format!(
                    "{} at {}",
                    us(s.cpu_us_per_command.median),
                    rate(s.achieved_rate.median)
                )
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
        for c in stats::set_aside(&v.candidates, winner) {
            if let Some(l) = v.sustainable.get(&c.backend) {
                let _ = writeln!(
                    out,
                    "
**Set aside:** {}'s {} was the last rate its search tried to confirm, and most of the confirmation repetitions failed ({} of {} passed): tried, not sustained, so it could not decide while {}'s limit held.",
                    c.backend,
                    rate(l.rate),
                    l.passed,
                    l.repetitions,
                    winner.backend
                );
            }
        }
        if let Some(d) = stats::search_disturbance(&v.run.sweep) {
            let _ = writeln!(
                out,
                "
**The search ran on a disturbed machine:** of its {} sweep points, {} stayed disturbed after their retries (steal up to {:.0}%; they are listed under \"Problems met\"). Time stolen by the hypervisor can push a point's p99 past the objective, so a backend's found limit may be set by the machine rather than its runtime; treat this ranking as provisional and rerun on a quiet machine (`scripts/bench-repeat 3` shows whether the winner holds).",
                d.points,
                d.disturbed,
                d.worst_steal * 100.0
            );
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
    if stats::confirmed(l) == Some(false) {
        let _ = writeln!(
            out,
            "
**The deciding figure was not confirmed in this run:** {backend}'s {}{found}, is the last rate the search tried to confirm, and most of its confirmation repetitions failed ({} of {} passed) with every confirmation round spent; rerun on a quiet machine before relying on it.",
            rate(l.rate),
            l.passed,
            l.repetitions
        );
        return;
    }
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
        Fact::RateUnconfirmed { rate: r } => format!(
            "{} IAMAT tried but not confirmed (most confirmation repetitions failed)",
            rate(*r)
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

pub(super) fn pros_and_cons(out: &mut String, v: &View<'_>) {
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
