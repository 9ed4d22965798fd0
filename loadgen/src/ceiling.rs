//! Runs the load generator against the runtime-free reference responder (`ceiling`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use herd_records::{CeilingRow, Client};

use crate::driver::{self, Plan};
use crate::procfs;
use crate::schedule::{Schedule, Stop};
use crate::workload;

/// Shapes measured: (connections, commands in flight per connection).
pub const SHAPES: [(usize, usize); 4] = [(16, 1), (256, 1), (1000, 1), (16, 16)];

/// Closed-loop IAMAT load at each shape against a fresh `ceiling` process.
pub fn measure(
    binary: &std::path::Path,
    duration: Duration,
    loadgen_threads: usize,
) -> anyhow::Result<Vec<CeilingRow>> {
    let mut child = Command::new(binary)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (build it with `cargo build --release -p ceiling`)",
                binary.display()
            )
        })?;
    let result = (|| {
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            bail!("ceiling printed {line:?}")
        };
        let addr: SocketAddr = addr.parse()?;
        let mut rows = Vec::new();
        for (connections, pipeline) in SHAPES {
            let plan = Plan {
                targets: vec![addr],
                connections,
                pipeline,
                schedule: Schedule::Closed,
                warmup: Duration::from_millis(500),
                stop: Stop::After(duration),
                drain: Duration::from_secs(2),
                churn: false,
                threads: loadgen_threads,
                workload: Arc::new(workload::iamat),
            };
            let before = (
                procfs::sample(std::process::id()).unwrap_or_default(),
                procfs::sample(child.id()).unwrap_or_default(),
            );
            let started = std::time::Instant::now();
            let outcome = driver::run(&plan)?;
            let wall = started.elapsed().as_secs_f64();
            let after = (
                procfs::sample(std::process::id()).unwrap_or_default(),
                procfs::sample(child.id()).unwrap_or_default(),
            );
            rows.push(CeilingRow {
                client: Client::Loadgen,
                connections,
                pipeline,
                achieved_rate: outcome.achieved_rate(),
                p99_us: Some(outcome.latency.value_at_quantile(0.99)),
                client_cpu_cores: after.0.cpu.saturating_sub(before.0.cpu).as_secs_f64() / wall,
                responder_cpu_cores: after.1.cpu.saturating_sub(before.1.cpu).as_secs_f64() / wall,
                failure: None,
            });
        }
        Ok(rows)
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
