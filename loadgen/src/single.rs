//! The `single` scenario: each backend's server alone (one process, no neighbours, no
//! places service: IAMAT needs none), measured beside the runtime-free `ceiling` responder
//! with the same client in the same turn, so the report can state the server's rate as a
//! share of what loopback and the load generator allow.
//!
//! Three servers run side by side for the whole scenario: the ceiling responder, the
//! backend with its log off and the backend with its log on (the manifest's `{log_args}`,
//! so each backend switches its log the way it always does). Only one is loaded at a time.
//! Every repetition measures, in turn, for each closed-loop shape (strict: 100 connections
//! x 1 in flight; pipelined: 16 x 16) the ceiling, the server with its log off and with it
//! on; then the server paced at the iamat scenario's rate and connections, with the log as
//! that scenario has it, for its CPU per IAMAT beside the herd's there; then the default
//! five-server herd (started once, beside the others) closed loop strict, for its CPU per
//! IAMAT beside the server alone's strict points. Taking turns exposes all of them to the
//! same disturbance; the report pairs each server point with the ceiling point of its
//! repetition.
//!
//! The windows are shorter than the other scenarios' (saturated closed loop settles within
//! a few hundred milliseconds): the scenario fits in about 30 s per backend quick and 70 s
//! full.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herd_launcher::{Herd, HerdSpec, Manifest, PlacesSpec, line, target_dir};
use herd_records::{Scenario, Server, Shape, SingleRow};

use crate::ceiling;
use crate::driver::Plan;
use crate::placement;
use crate::schedule::{Schedule, Stop};
use crate::suite::{Measured, PointFailed, Suite, measure_plan, retry_disturbed};
use crate::workload;

/// Closed-loop shapes: (shape, connections, commands in flight per connection).
pub const SHAPES: [(Shape, usize, usize); 2] =
    [(Shape::Strict, 100, 1), (Shape::Pipelined, 16, 16)];

/// Warm-up and measured window of each point, and repetitions of the whole round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
    pub reps: u32,
}

/// The timing of each preset: 8 points a repetition, so quick is 2 x 8 x 1.6 s plus the
/// starts (about 30 s) and full 3 x 8 x 2.6 s (about 70 s with the starts).
pub fn timing(preset: &str) -> Timing {
    if preset == "full" {
        Timing {
            warmup: Duration::from_millis(600),
            duration: Duration::from_secs(2),
            reps: 3,
        }
    } else {
        Timing {
            warmup: Duration::from_millis(400),
            duration: Duration::from_millis(1_200),
            reps: 2,
        }
    }
}

/// What is loaded in one point.
enum Target<'a> {
    Ceiling(&'a ceiling::Responder),
    /// The server alone, its log on or off.
    Backend(&'a mut Herd, bool),
    /// The five-server herd, its log as the suite has it.
    Herd(&'a mut Herd, bool),
}

impl Target<'_> {
    fn server(&self) -> (Server, bool) {
        match self {
            Target::Ceiling(_) => (Server::Ceiling, false),
            Target::Backend(_, logs) => (Server::Backend, *logs),
            Target::Herd(_, logs) => (Server::Herd, *logs),
        }
    }

    /// The addresses to load and the processes whose CPU counts.
    fn endpoints(&self) -> anyhow::Result<(Vec<SocketAddr>, Vec<u32>)> {
        match self {
            Target::Ceiling(r) => Ok((vec![r.addr], vec![r.pid()])),
            Target::Backend(herd, _) | Target::Herd(herd, _) => {
                let addrs = herd
                    .names()
                    .map(|n| herd.addr(n))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok((addrs, herd.pids().into_values().collect()))
            }
        }
    }
}

/// Starts `backend`'s server alone, its log in `logs` (`None`: `--no-log`).
fn start(
    suite: &Suite,
    backend: &Manifest,
    logs: Option<&std::path::Path>,
) -> anyhow::Result<Herd> {
    let s = &suite.settings;
    let mut spec = HerdSpec::new(backend.clone(), line(1), s.profile);
    spec.threads = s.herd_threads;
    spec.places = PlacesSpec::Unreachable;
    spec.logs = logs.map(std::path::Path::to_path_buf);
    placement::with_cpus(&s.placement.servers, || Herd::start(&s.root, spec))?.with_context(|| {
        format!(
            "starting the {} single server (log {})",
            backend.name,
            if logs.is_some() { "on" } else { "off" }
        )
    })
}

/// The scenario with its preset's timing.
pub fn run(suite: &mut Suite, backend: &Manifest) -> anyhow::Result<()> {
    let t = timing(&suite.settings.preset);
    run_with(suite, backend, t)
}

/// The scenario with the given timing; the rows go to `suite.tables.single`.
pub fn run_with(suite: &mut Suite, backend: &Manifest, t: Timing) -> anyhow::Result<()> {
    // This scenario starts its own servers: a herd kept from another scenario must not sit
    // beside them.
    suite.release_herd();
    let s = suite.settings.clone();
    let Timing {
        warmup,
        duration,
        reps,
    } = t;
    let responder = ceiling::start(&ceiling::Setup {
        binary: target_dir(&s.root).join(s.profile.dir()).join("ceiling"),
        duration,
        loadgen_threads: s.loadgen_threads,
        rounds: 1,
        responder_cpus: s.placement.servers.clone(),
    })?;
    let log_dir = tempfile::Builder::new()
        .prefix("herd-single-logs-")
        .tempdir()?;
    let mut quiet = start(suite, backend, None)?;
    let mut logged = start(suite, backend, Some(log_dir.path()))?;
    // Places answer at once; IAMAT never asks them.
    let (mut herd, _herd_logs) = suite.herd(backend, "0")?;
    // Every point loads IAMATs for the same warm-up and window; only its shape and pacing
    // differ.
    let iamat = |targets, connections, pipeline, schedule| Plan {
        targets,
        connections,
        pipeline,
        schedule,
        warmup,
        stop: Stop::After(duration),
        drain: Duration::from_secs(1),
        churn: false,
        threads: s.loadgen_threads,
        workload: Arc::new(workload::iamat),
    };
    for rep in 0..reps {
        for (shape, connections, pipeline) in SHAPES {
            let plan = |targets| iamat(targets, connections, pipeline, Schedule::Closed);
            point(
                suite,
                backend,
                Target::Ceiling(&responder),
                shape,
                rep,
                &plan,
            )?;
            point(
                suite,
                backend,
                Target::Backend(&mut quiet, false),
                shape,
                rep,
                &plan,
            )?;
            point(
                suite,
                backend,
                Target::Backend(&mut logged, true),
                shape,
                rep,
                &plan,
            )?;
        }
        // Paced as the iamat scenario loads the herd: its rate, connections and log.
        let paced = |targets| {
            let open = Schedule::Open { rate: s.iamat_rate };
            iamat(targets, s.connections, s.pipeline, open)
        };
        let target = if s.server_logs {
            Target::Backend(&mut logged, true)
        } else {
            Target::Backend(&mut quiet, false)
        };
        point(suite, backend, target, Shape::Paced, rep, &paced)?;
        // The herd closed loop, strict, beside the server alone's strict points.
        let (_, connections, pipeline) = SHAPES[0];
        let strict = |targets| iamat(targets, connections, pipeline, Schedule::Closed);
        let target = Target::Herd(&mut herd, s.server_logs);
        point(suite, backend, target, Shape::Strict, rep, &strict)?;
    }
    Ok(())
}

/// Measures one point (again while the machine is disturbed, up to the suite's retries) and
/// records its row. A point with nothing answered, or whose server died, is a
/// [`PointFailed`].
fn point(
    suite: &mut Suite,
    backend: &Manifest,
    mut target: Target<'_>,
    shape: Shape,
    rep: u32,
    plan: &dyn Fn(Vec<SocketAddr>) -> Plan,
) -> anyhow::Result<()> {
    let (server, logs) = target.server();
    let what = format!(
        "{} {shape:?} log {} rep {rep}",
        match server {
            Server::Backend => "server",
            Server::Ceiling => "ceiling",
            Server::Herd => "herd",
        },
        if logs { "on" } else { "off" }
    );
    let fail = |reason: String| PointFailed {
        point: what.clone(),
        reason,
    };
    let (addrs, pids) = target.endpoints().map_err(|e| fail(format!("{e:#}")))?;
    let plan = plan(addrs);
    let mut attempt = 0;
    loop {
        let helper = match &target {
            Target::Herd(herd, _) => herd.places_pid(),
            _ => None,
        };
        let m = measure_plan(&plan, pids.clone(), helper).map_err(|e| fail(format!("{e:#}")))?;
        if let Target::Backend(herd, _) | Target::Herd(herd, _) = &mut target {
            herd.check_alive().map_err(|e| fail(format!("{e:#}")))?;
        }
        if m.outcome.ok == 0 {
            let reason = m
                .outcome
                .first_error
                .clone()
                .unwrap_or_else(|| "no command was answered".into());
            return Err(fail(reason).into());
        }
        if retry_disturbed(m.disturbance.disturbed, None, attempt, &suite.settings) {
            attempt += 1;
            suite.progress.println(format!(
                "{} / {} {what}: disturbed, repeating",
                backend.name,
                Scenario::Single
            ));
            continue;
        }
        suite
            .tables
            .single
            .push(row(&backend.name, server, shape, logs, rep, &plan, &m));
        return Ok(());
    }
}

/// The record of one measured point.
pub fn row(
    backend: &str,
    server: Server,
    shape: Shape,
    logs: bool,
    rep: u32,
    plan: &Plan,
    m: &Measured,
) -> SingleRow {
    let o = &m.outcome;
    let achieved = o.achieved_rate();
    let cores = m.usage.cpu().as_secs_f64() / m.usage.wall.as_secs_f64().max(1e-9);
    SingleRow {
        backend: backend.into(),
        server,
        shape,
        logs,
        repetition: rep,
        connections: plan.connections,
        pipeline: plan.pipeline,
        target_rate: match plan.schedule {
            Schedule::Open { rate } => rate,
            Schedule::Closed => 0.0,
        },
        achieved_rate: achieved,
        p99_us: o.latency.value_at_quantile(0.99),
        failed: o.errors + o.timeouts + o.wrong,
        server_cpu_us_per_command: if achieved > 0.0 {
            cores * 1e6 / achieved
        } else {
            0.0
        },
        server_cpu_cores: cores,
        disturbed: m.disturbance.disturbed,
    }
}
