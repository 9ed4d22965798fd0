//! The `single` scenario (issue 12): each server alone against the ceiling responder, its
//! log on against off, and the herd's CPU per IAMAT against the single server's.

use std::fmt::Write as _;

use herd_records::Shape;

use super::{View, list, rate, us};
use crate::single::{
    self, BEST_SHARE, CLOSED, EVERY_SHARE, HERD_CPU_RATIO, LOG_KEEPS, SATURATED, Single, Verdict,
    at_least, at_most,
};
use crate::stats::Spread;

fn ratio(s: &Option<Spread>) -> String {
    match s {
        None => "–".into(),
        Some(s) => format!("{:.2} [{:.2}–{:.2}]", s.median, s.min, s.max),
    }
}

/// A figure with its verdict: a missed target in bold with the target named.
fn judged(text: String, verdict: Verdict, miss: &str) -> String {
    match verdict {
        Verdict::Missed => format!("**{text}** ({miss})"),
        _ => text,
    }
}

fn shape_name(shape: Shape) -> &'static str {
    match shape {
        Shape::Strict => "strict (100 connections × 1 in flight)",
        Shape::Pipelined => "pipelined (16 connections × 16 in flight)",
        Shape::Paced => "paced",
    }
}

/// Every backend held to a target: missed by some, not measured for some, or met by all.
fn every(v: &View<'_>, verdicts: &[(&Single, Verdict)]) -> String {
    let with = |want: Verdict| -> Vec<String> {
        verdicts
            .iter()
            .filter(|(_, x)| *x == want)
            .map(|(s, _)| v.name(&s.backend))
            .collect()
    };
    let (missed, unknown) = (with(Verdict::Missed), with(Verdict::Unknown));
    let mut text = if !missed.is_empty() {
        format!("**missed** by {}", super::list(&missed))
    } else if unknown.len() == verdicts.len() {
        return "not measured".into();
    } else {
        "met".to_owned()
    };
    if !unknown.is_empty() {
        text.push_str(&format!(" (not measured for {})", super::list(&unknown)));
    }
    text
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Missed => "**missed**",
        Verdict::Unknown => "not measured",
    }
}

pub(super) fn single(out: &mut String, v: &View<'_>) {
    let run = v.run;
    if run.single.is_empty() {
        return;
    }
    let order: Vec<String> = run.meta.backends.iter().map(|b| b.name.clone()).collect();
    let singles = single::single(&run.single, &run.summary, &order, run.meta.server_logs);
    let _ = writeln!(out, "## One server alone (`single.csv`)\n");
    let _ = writeln!(
        out,
        "Each backend's server alone (one process, no neighbours, `--threads` as in the herd: {threads}), closed loop at saturation, its rate as a share of the runtime-free `ceiling` responder loaded by the same client in the same turns (median [min–max] over repetitions, each paired with its own ceiling measurement). Its log off for the share; the log kept is the rate with the log on over the rate with it off. Targets: the best backend at least {:.1} strict and {:.1} pipelined, every backend at least {EVERY_SHARE:.1} on both, at least {LOG_KEEPS:.1} kept with the log on.\n",
        BEST_SHARE[0],
        BEST_SHARE[1],
        threads = run
            .meta
            .backends
            .first()
            .map_or("–".into(), |b| b.threads.to_string())
    );
    let _ = writeln!(
        out,
        "| backend | strict: share of ceiling | pipelined: share of ceiling | strict: log kept | pipelined: log kept | strict, log off | pipelined, log off |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for s in &singles {
        let share = |k: usize| {
            let every = at_least(s.share[k].map(|x| x.median), EVERY_SHARE);
            judged(
                ratio(&s.share[k]),
                every,
                &format!("below {EVERY_SHARE:.1}"),
            )
        };
        let kept = |k: usize| {
            let verdict = at_least(s.log_kept[k].map(|x| x.median), LOG_KEEPS);
            judged(
                ratio(&s.log_kept[k]),
                verdict,
                &format!("below {LOG_KEEPS:.1}"),
            )
        };
        let rates = |k: usize| match (s.rate[k], s.ceiling_rate[k]) {
            (Some(r), Some(c)) => format!("{} (ceiling {})", rate(r.median), rate(c.median)),
            (Some(r), None) => rate(r.median),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            v.name(&s.backend),
            share(0),
            share(1),
            kept(0),
            kept(1),
            rates(0),
            rates(1)
        );
    }
    let _ = writeln!(out);
    for (k, shape) in CLOSED.into_iter().enumerate() {
        let best = single::best(&singles, k);
        let verdict = at_least(best.map(|b| b.1), BEST_SHARE[k]);
        let who = best.map_or("nothing measured".into(), |(b, x)| {
            format!("{} at {x:.2}", v.name(b))
        });
        let verdicts: Vec<(&Single, Verdict)> = singles
            .iter()
            .map(|s| (s, at_least(s.share[k].map(|x| x.median), EVERY_SHARE)))
            .collect();
        let _ = writeln!(
            out,
            "- {}: best {who}, target at least {:.1}: {}; every backend at least {EVERY_SHARE:.1}: {}.",
            shape_name(shape),
            BEST_SHARE[k],
            verdict_text(verdict),
            every(v, &verdicts)
        );
    }
    let logs: Vec<(&Single, Verdict)> = singles
        .iter()
        .map(|s| {
            let each = s.log_kept.map(|k| at_least(k.map(|x| x.median), LOG_KEEPS));
            let verdict = if each.contains(&Verdict::Missed) {
                Verdict::Missed
            } else if each.contains(&Verdict::Unknown) {
                Verdict::Unknown
            } else {
                Verdict::Met
            };
            (s, verdict)
        })
        .collect();
    let _ = writeln!(
        out,
        "- With the log on, every backend keeps at least {LOG_KEEPS:.1} of its rate on both shapes: {}.",
        every(v, &logs)
    );
    let noisy: usize = singles.iter().map(|s| s.disturbed).sum();
    let failed: u64 = singles.iter().map(|s| s.failed).sum();
    if noisy > 0 || failed > 0 {
        let _ = writeln!(
            out,
            "- {noisy} point(s) measured while the machine was disturbed are left out; {failed} command(s) failed, timed out or were answered wrongly."
        );
    }
    herd_cost(out, v, &singles);
}

fn herd_cost(out: &mut String, v: &View<'_>, singles: &[Single]) {
    let logs = if v.run.meta.server_logs { "on" } else { "off" };
    let _ = writeln!(
        out,
        "\nServer CPU per IAMAT, the five-server herd (the iamat scenario, `summary.csv`) against the server alone paced at the same rate and connections with its log {logs} (`single.csv`). Target: the herd at most {HERD_CPU_RATIO:.0}× the single server, paced and closed loop. Closed loop is the strict shape (100 connections × 1 in flight) at saturation, spread over the herd's servers (`single.csv`).\n"
    );
    let _ = writeln!(
        out,
        "| backend | paced rate | herd, paced | alone, paced | herd / alone, paced | herd, closed loop | alone, closed loop | herd / alone, closed loop |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let cpu = |s: &Option<Spread>| s.map_or("–".into(), |x| us(x.median));
    let cores = crate::stats::server_cores(&v.run.meta);
    let mut saturated = Vec::new();
    for s in singles {
        let herd_paced = if s.herd_paced_saturated(cores) {
            saturated.push(v.name(&s.backend));
            format!("{} (saturated)", cpu(&s.herd_paced_cpu_us))
        } else {
            cpu(&s.herd_paced_cpu_us)
        };
        let times = |ratio: Option<f64>| {
            let text = ratio.map_or("–".into(), |r| format!("{r:.1}×"));
            judged(
                text,
                at_most(ratio, HERD_CPU_RATIO),
                &format!("above {HERD_CPU_RATIO:.0}×"),
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            v.name(&s.backend),
            if s.paced_rate > 0.0 {
                rate(s.paced_rate)
            } else {
                "–".into()
            },
            herd_paced,
            cpu(&s.single_paced_cpu_us),
            times(s.herd_ratio()),
            cpu(&s.herd_closed_cpu_us),
            cpu(&s.single_closed_cpu_us),
            times(s.herd_closed_ratio())
        );
    }
    if !saturated.is_empty() {
        let _ = writeln!(
            out,
            "\nSaturated: the herds of {} kept at least {:.0}% of their {cores} CPU(s) busy at the paced rate (CPU per IAMAT × rate), so there the figure is the CPU there was over the rate, not what an IAMAT needs, and their paced ratio says little; the closed-loop columns and the chart of CPU per IAMAT against offered rate do.",
            list(&saturated),
            SATURATED * 100.0
        );
    }
    let _ = writeln!(out);
}
