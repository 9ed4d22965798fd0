//! Measures the instrument: the bare client ([`crate::bare`]) and the load generator's
//! driver, one after the other, closed loop against the runtime-free reference responder
//! (`ceiling`), shape by shape. The load generator's rate over the bare client's is the
//! share of what loopback allows that the instrument keeps.
//!
//! The two clients take turns, `rounds` times per shape, and each keeps its best round: a
//! ceiling is a capability, other processes on the machine only ever lower it, and taking
//! turns exposes both clients to the same disturbance. Each measurement gets a fresh
//! responder. One that fails (no replies, a connection lost, a reply missing or wrong) is
//! retried; a client with no successful round is a row with its reason in `failure`,
//! never a row of zeros passed off as data.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herd_records::{CeilingRow, Client};

use crate::driver::{self, Plan};
use crate::schedule::{Schedule, Stop};
use crate::{bare, placement, procfs, workload};

/// Shapes measured: (connections, commands in flight per connection). The first two are
/// the ones issue 11 holds the instrument to (strict request/reply; pipelined).
pub const SHAPES: [(usize, usize); 3] = [(100, 1), (16, 16), (1000, 1)];

/// Attempts per shape and client before it is recorded as a failure.
pub const ATTEMPTS: u32 = 3;

/// How `measure` places and sizes things.
#[derive(Debug, Clone)]
pub struct Setup {
    pub binary: std::path::PathBuf,
    pub duration: Duration,
    pub loadgen_threads: usize,
    /// Turns each client takes per shape; the best is kept.
    pub rounds: u32,
    /// CPUs for the responder (empty: anywhere).
    pub responder_cpus: Vec<usize>,
}

/// A running responder; dropping it kills it.
pub struct Responder {
    child: Child,
    pub addr: SocketAddr,
}

impl Responder {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a responder on `setup.responder_cpus` and waits for its address.
pub fn start(setup: &Setup) -> anyhow::Result<Responder> {
    let mut command = Command::new(&setup.binary);
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = placement::spawn(&mut command, &setup.responder_cpus).with_context(|| {
        format!(
            "cannot start {} (build it with `cargo build --release -p ceiling`)",
            setup.binary.display()
        )
    })?;
    let mut line = String::new();
    let stdout = child.stdout.take().context("ceiling stdout")?;
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = match line.trim().strip_prefix("listening on ") {
        Some(addr) => addr.parse()?,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("ceiling printed {line:?}")
        }
    };
    Ok(Responder { child, addr })
}

/// Every shape with both clients.
pub fn measure(setup: &Setup) -> Vec<CeilingRow> {
    let mut rows = Vec::new();
    for (connections, pipeline) in SHAPES {
        let clients = [Client::Bare, Client::Loadgen];
        let mut best: [Option<CeilingRow>; 2] = [None, None];
        let mut reasons: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..setup.rounds.max(1) {
            for (k, client) in clients.into_iter().enumerate() {
                let row = (0..ATTEMPTS).find_map(|_| {
                    once(setup, client, connections, pipeline)
                        .map_err(|e| reasons[k].push(format!("{e:#}")))
                        .ok()
                });
                if let Some(row) = row
                    && best[k]
                        .as_ref()
                        .is_none_or(|b| row.achieved_rate > b.achieved_rate)
                {
                    best[k] = Some(row);
                }
            }
        }
        for (k, client) in clients.into_iter().enumerate() {
            rows.push(best[k].take().unwrap_or_else(|| CeilingRow {
                client,
                connections,
                pipeline,
                achieved_rate: 0.0,
                p99_us: None,
                client_cpu_cores: 0.0,
                responder_cpu_cores: 0.0,
                failure: Some(format!(
                    "{} attempts failed: {}",
                    reasons[k].len(),
                    reasons[k].join("; ")
                )),
            }));
        }
    }
    rows
}

/// One measurement against a fresh responder; any sign of failure is an error.
fn once(
    setup: &Setup,
    client: Client,
    connections: usize,
    pipeline: usize,
) -> anyhow::Result<CeilingRow> {
    let responder = start(setup)?;
    let warmup = Duration::from_millis(500);
    let before = (
        procfs::own_cpu(),
        procfs::sample(responder.child.id()).unwrap_or_default(),
    );
    let started = Instant::now();
    let (rate, p99) = match client {
        Client::Bare => (
            bare::run(
                responder.addr,
                connections,
                pipeline,
                warmup,
                setup.duration,
            )?,
            None,
        ),
        Client::Loadgen => {
            let plan = Plan {
                targets: vec![responder.addr],
                connections,
                pipeline,
                schedule: Schedule::Closed,
                warmup,
                stop: Stop::After(setup.duration),
                drain: Duration::from_secs(2),
                churn: false,
                threads: setup.loadgen_threads,
                workload: Arc::new(workload::iamat),
            };
            let o = driver::run(&plan)?;
            if let Some(e) = &o.first_error {
                bail!("{e}");
            }
            let failed = o.errors + o.timeouts + o.wrong;
            if failed > 0 {
                bail!(
                    "{failed} of {} commands failed, timed out or were wrong",
                    o.sent
                );
            }
            (o.achieved_rate(), Some(o.latency.value_at_quantile(0.99)))
        }
    };
    let wall = started.elapsed().as_secs_f64();
    let after = (
        procfs::own_cpu(),
        procfs::sample(responder.child.id()).unwrap_or_default(),
    );
    if rate <= 0.0 {
        bail!("no replies in {:?}", setup.duration);
    }
    Ok(CeilingRow {
        client,
        connections,
        pipeline,
        achieved_rate: rate,
        p99_us: p99,
        client_cpu_cores: after.0.saturating_sub(before.0).as_secs_f64() / wall,
        responder_cpu_cores: after.1.cpu.saturating_sub(before.1.cpu).as_secs_f64() / wall,
        failure: None,
    })
}
