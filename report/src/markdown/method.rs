//! How the run was made and what went wrong in it: machine, placement, the instrument's
//! headroom and overhead, what was not measured, failures and disturbed points.

use std::fmt::Write as _;

use herd_records::{Client, Scenario};

use super::{View, list, ms, rate};
use crate::stats::{self, Headroom};

pub(super) fn machine(out: &mut String, v: &View<'_>) {
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

pub(super) fn problems(out: &mut String, v: &View<'_>) {
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
            v.name(&p.backend),
            p.scenario,
            p.what.lines().next().unwrap_or_default()
        );
    }
    for ((backend, scenario), s) in &v.stats {
        if s.failed > 0 {
            any = true;
            let _ = writeln!(
                out,
                "- {} / {scenario}: {} of {} commands failed, timed out or got a wrong reply.",
                v.name(backend),
                s.failed,
                s.sent
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
            v.name(&r.backend),
            rate(r.target_rate)
        );
    }
    if !any {
        let _ = writeln!(out, "- none recorded in this run.");
    }
    let _ = writeln!(out);
}
