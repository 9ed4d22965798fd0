//! Reliability: faults under load, the lost-update checker, hostile cases and the soak.
//! Every judgement is `crate::reliability`'s; a part the run did not do is said to be
//! missing, never shown as zeros.

use std::fmt::Write as _;

use super::{View, list, rate};
use crate::reliability::{
    BackendReliability, FAULT_TARGET, SOAK_GROWTH_TARGET_PCT, proofs_of_failure, reliability,
};

const KINDS: [&str; 3] = ["failover", "partition", "flap"];

fn recovery(r: &BackendReliability) -> String {
    match r.recovery {
        Some(x) => format!(
            "{:.0} / {:.0} / {:.0} / {:.0} ms",
            x.p50, x.p90, x.p99, x.max
        ),
        None => "–".into(),
    }
}

fn hostile(r: &BackendReliability) -> String {
    match &r.hostile {
        None => "not run".into(),
        Some(h) => {
            let mut s = format!("{} of {}", h.passed, h.total());
            if h.failed > 0 {
                let _ = write!(s, ", **{} failed**", h.failed);
            }
            if h.known_gaps > 0 {
                let _ = write!(s, ", {} known gap(s)", h.known_gaps);
            }
            s
        }
    }
}

fn soak(r: &BackendReliability) -> String {
    match &r.soak {
        None => "no soak".into(),
        Some(s) => format!(
            "{:+.2}% / {:+.2}%{}",
            s.rss_growth_pct,
            s.fds_growth_pct,
            if s.within_target {
                ""
            } else {
                " (**over target**)"
            }
        ),
    }
}

pub(super) fn reliability_section(out: &mut String, v: &View<'_>) {
    let run = v.run;
    let rows = &run.reliability;
    let backends: Vec<String> = run.meta.backends.iter().map(|b| b.name.clone()).collect();
    let all = reliability(
        &backends,
        &rows.faults,
        &rows.fault_summary,
        &rows.hostile,
        &rows.soak_growth,
    );
    let _ = writeln!(out, "## Reliability under faults\n");
    let _ = writeln!(
        out,
        "Faults injected while clients write (`faults run`; `fault-summary.csv`, one row per cycle in `faults.csv`): **failover** kills one \
         server with SIGKILL and restarts it, **partition** cuts every link between two parts of the herd and heals them, **flap** drops one \
         link and brings it back several times a cycle (each drop counts as a fault). Links run through a chaos proxy on loopback. After each \
         heal the checker asks every server for every client's location: an acknowledged update that no server holds at the deadline is \
         **lost** (target 0), a server still behind one is **stale**, and **recovery** runs from the heal until every server agrees. \
         Hostile cases are the conformance suite's hostile clients and hostile places service (`hostile.csv`); the soak columns are the \
         worst server's growth of resident memory and open fds over the soak's window (`soak-growth.csv`, target at most {SOAK_GROWTH_TARGET_PCT}%).\n"
    );
    let measured: Vec<&BackendReliability> = all.iter().filter(|r| r.faults_measured()).collect();
    if measured.is_empty() {
        let _ = writeln!(
            out,
            "This run did not inject faults (no `fault-summary.csv`): it says nothing about lost updates or recovery.\n"
        );
    } else {
        let _ = writeln!(
            out,
            "| backend | faults (failover / partition / flap) | lost | stale | timed out | recovery p50 / p90 / p99 / max | hostile cases passed | soak growth RSS / fds |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for r in &all {
            if !r.faults_measured() {
                let _ = writeln!(
                    out,
                    "| {} | not measured | – | – | – | – | {} | {} |",
                    v.name(&r.backend),
                    hostile(r),
                    soak(r)
                );
                continue;
            }
            let by_kind: Vec<String> = KINDS
                .iter()
                .map(|k| {
                    r.kinds
                        .iter()
                        .find(|t| t.kind == *k)
                        .map_or("–".into(), |t| t.faults.to_string())
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
                v.name(&r.backend),
                r.faults(),
                by_kind.join(" / "),
                if r.lost() == 0 {
                    "0".to_owned()
                } else {
                    format!("**{}**", r.lost())
                },
                r.stale(),
                r.timed_out(),
                recovery(r),
                hostile(r),
                soak(r)
            );
        }
        let _ = writeln!(out);
        let clean: Vec<&str> = measured
            .iter()
            .filter(|r| r.no_lost_updates())
            .map(|r| r.backend.as_str())
            .collect();
        let lossy: Vec<String> = measured
            .iter()
            .filter(|r| !r.no_lost_updates())
            .map(|r| format!("{} ({} lost)", r.backend, r.lost()))
            .collect();
        if lossy.is_empty() {
            let _ = write!(
                out,
                "No acknowledged update was lost: {} faults over {} backend(s).",
                measured.iter().map(|r| r.faults()).sum::<usize>(),
                measured.len()
            );
        } else {
            let _ = write!(
                out,
                "**Lost updates:** {}{}.",
                list(&lossy),
                if clean.is_empty() {
                    String::new()
                } else {
                    format!("; none lost by {}", list(&clean))
                }
            );
        }
        let short: Vec<&str> = measured
            .iter()
            .filter(|r| !r.meets_fault_target())
            .map(|r| r.backend.as_str())
            .collect();
        if short.is_empty() {
            let _ = writeln!(
                out,
                " Every backend measured took at least {FAULT_TARGET} faults.\n"
            );
        } else {
            let _ = writeln!(
                out,
                " Fewer than {FAULT_TARGET} faults for {} ({} preset; the target is a full run's).\n",
                list(&short),
                run.meta.preset
            );
        }
        let missing: Vec<&str> = all
            .iter()
            .filter(|r| !r.faults_measured())
            .map(|r| r.backend.as_str())
            .collect();
        if !missing.is_empty() {
            let _ = writeln!(
                out,
                "Not measured under faults in this run: {}.\n",
                list(&missing)
            );
        }
    }
    let proofs = proofs_of_failure(&rows.fault_summary);
    if proofs.is_empty() {
        let _ = writeln!(
            out,
            "This run holds no proof that the checker can fail (a scenario with anti-entropy switched off); the test \
             `without_anti_entropy_the_checker_reports_lost_updates` in `faults/tests/checker.rs` makes one.\n"
        );
    } else {
        let found: Vec<String> = proofs
            .iter()
            .map(|((b, k), lost)| format!("{b} {k}: {lost} lost"))
            .collect();
        let _ = writeln!(
            out,
            "The checker's proof of failure, the same scenarios with anti-entropy switched off (not counted above): {}.\n",
            list(&found)
        );
    }
    let mut revisions: Vec<&str> = all
        .iter()
        .filter_map(|r| r.hostile.as_ref())
        .flat_map(|h| h.revisions.iter().map(String::as_str))
        .collect();
    revisions.sort_unstable();
    revisions.dedup();
    if revisions.is_empty() {
        let _ = writeln!(
            out,
            "This run did not run the hostile conformance cases (`scripts/bench-all --full` does; `scripts/hostile` alone).\n"
        );
    } else {
        let _ = writeln!(
            out,
            "The hostile cases ran at revision {}; a known gap still fails and is reported, not counted as passed.\n",
            list(
                &revisions
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
            )
        );
    }
    let soaked: Vec<&BackendReliability> = all.iter().filter(|r| r.soak.is_some()).collect();
    if soaked.is_empty() {
        let _ = writeln!(
            out,
            "This run has no soak (`scripts/soak` adds one to a run directory): memory and descriptor growth were not measured.\n"
        );
        return;
    }
    let length = rows.soak.iter().map(|s| s.t_s).fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "Soak: the mixed load for {:.0} s (`soak.csv`, charts above); growth is measured from the window's start to its end, worst server:\n",
        length
    );
    let _ = writeln!(
        out,
        "| backend | offered | window from | RSS growth | fds growth | within {SOAK_GROWTH_TARGET_PCT}% | sent | failed | CPUs |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for r in &soaked {
        if let Some(s) = &r.soak {
            let _ = writeln!(
                out,
                "| {} | {} ({}{}) | {:.0} s | {:+.2}% | {:+.2}% | {} | {} | {} | {} |",
                v.name(&r.backend),
                rate(s.rate),
                s.rate_source,
                if s.connections > 0 {
                    format!(", {} connections", s.connections)
                } else {
                    String::new()
                },
                s.window_start_s,
                s.rss_growth_pct,
                s.fds_growth_pct,
                if s.within_target { "yes" } else { "**no**" },
                s.sent,
                s.failed,
                if s.cpus.is_empty() { "all" } else { &s.cpus }
            );
        }
    }
    if soaked
        .iter()
        .any(|r| r.soak.as_ref().is_some_and(|s| !s.cpus.is_empty()))
    {
        let _ = writeln!(
            out,
            "\nA soak with CPUs listed ran in a lane (`scripts/soak --lanes`): backends soaked side by side, each herd and its load confined to the CPUs shown, so its load shared that CPU with the herd."
        );
    }
    let _ = writeln!(out);
}
