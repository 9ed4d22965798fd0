//! The scenarios: small presets over the one driver (see [`Scenario`] for what each does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use hdrhistogram::Histogram;
use herd_launcher::{Client, Herd, Manifest};
use herd_records::{IdleRow, Phase, PropagationRow, Scenario, SweepRow};

use crate::procfs;
use crate::schedule::Schedule;
use crate::suite::Suite;
use crate::workload;

/// Clients registered before query scenarios.
const SEEDS: usize = 32;

pub fn run(suite: &mut Suite, backend: &Manifest, scenario: Scenario) -> anyhow::Result<()> {
    let s = suite.settings.clone();
    match scenario {
        Scenario::Iamat => {
            let (mut herd, _logs) = suite.herd(backend, "0")?;
            let plan = suite.plan(
                &herd,
                Schedule::Open { rate: s.iamat_rate },
                s.connections,
                Arc::new(workload::iamat),
            )?;
            for rep in 0..s.reps {
                suite.measure(&mut herd, Scenario::Iamat, &plan, rep)?;
            }
        }
        Scenario::Whatsat | Scenario::Mixed => {
            let (mut herd, _logs) = suite.herd(backend, &s.places_latency)?;
            seed(&herd)?;
            let (rate, workload) = if scenario == Scenario::Whatsat {
                (
                    s.whatsat_rate,
                    Arc::new(workload::whatsat(SEEDS)) as crate::driver::Workload,
                )
            } else {
                (
                    s.whatsat_rate,
                    workload::mixed(s.mixed_iamat_percent, SEEDS),
                )
            };
            let plan = suite.plan(
                &herd,
                Schedule::Open { rate },
                s.whatsat_connections,
                workload,
            )?;
            for rep in 0..s.reps {
                suite.measure(&mut herd, scenario, &plan, rep)?;
            }
        }
        Scenario::Churn => {
            let (mut herd, _logs) = suite.herd(backend, "0")?;
            let mut plan = suite.plan(
                &herd,
                Schedule::Open { rate: s.churn_rate },
                16,
                Arc::new(workload::iamat),
            )?;
            plan.churn = true;
            plan.pipeline = 1;
            for rep in 0..s.reps {
                suite.measure(&mut herd, Scenario::Churn, &plan, rep)?;
            }
        }
        Scenario::Sweep => sweep(suite, backend)?,
        Scenario::Propagation => propagation(suite, backend)?,
        Scenario::Idle => idle(suite, backend)?,
    }
    Ok(())
}

/// Registers the seed clients and waits until every server knows all of them.
fn seed(herd: &Herd) -> anyhow::Result<()> {
    let names: Vec<String> = herd.names().map(str::to_owned).collect();
    let mut c = Client::connect(herd.addr(&names[0])?)?;
    let time = herd_protocol::message::format_client_time(herd_protocol::Nanos::from_system_time(
        std::time::SystemTime::now(),
    ));
    for i in 0..SEEDS {
        let (client, location) = workload::seed_client(i);
        c.iamat(&client, &location, &time)?;
    }
    let (last, _) = workload::seed_client(SEEDS - 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    for name in &names {
        while !Client::connect(herd.addr(name)?)?
            .whatsat(&last, "1", 1)?
            .starts_with("AT ")
        {
            ensure!(
                Instant::now() < deadline,
                "seed clients did not reach {name}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Raises the open-loop IAMAT rate until a step is not sustainable.
fn sweep(suite: &mut Suite, backend: &Manifest) -> anyhow::Result<()> {
    let s = suite.settings.clone();
    let (mut herd, _logs) = suite.herd(backend, "0")?;
    let mut rate = s.sweep_start;
    for step in 0..s.sweep_max_steps {
        let plan = suite.plan(
            &herd,
            Schedule::Open { rate },
            s.connections,
            Arc::new(workload::iamat),
        )?;
        let mut rows = Vec::new();
        for rep in 0..s.reps {
            rows.push(suite.measure(&mut herd, Scenario::Sweep, &plan, rep)?);
        }
        let p99s: Vec<u64> = rows.iter().map(|r| r.p99_us).collect();
        let sent: u64 = rows.iter().map(|r| r.sent).sum();
        let failed: u64 = rows.iter().map(|r| r.errors + r.timeouts + r.wrong).sum();
        let achieved = rows.iter().map(|r| r.achieved_rate).sum::<f64>() / rows.len().max(1) as f64;
        let p99 = median(p99s.clone());
        let error_fraction = failed as f64 / sent.max(1) as f64;
        let sustainable = p99 <= s.p99_objective.as_micros() as u64
            && error_fraction < 0.001
            && achieved >= 0.95 * rate;
        suite.tables.sweep.push(SweepRow {
            backend: backend.name.clone(),
            scenario: Scenario::Iamat,
            step,
            phase: Phase::Ramp,
            target_rate: rate,
            achieved_rate: achieved,
            p50_us: median(rows.iter().map(|r| r.p50_us).collect()),
            p99_us: p99,
            p99_min_us: p99s.iter().copied().min().unwrap_or(0),
            p99_max_us: p99s.iter().copied().max().unwrap_or(0),
            error_fraction,
            sustainable,
            server_cpu_us_per_command: 0.0,
            loadgen_cpu_us_per_command: 0.0,
            loadavg_1m: 0.0,
            steal_fraction: 0.0,
            outside_cpu_cores: 0.0,
            disturbed: false,
        });
        suite.tables.write(&s.out)?;
        if !sustainable {
            break;
        }
        rate *= s.sweep_factor;
    }
    Ok(())
}

/// IAMATs at each server in turn; every other server is polled until it has the update.
fn propagation(suite: &mut Suite, backend: &Manifest) -> anyhow::Result<()> {
    let (herd, _logs) = suite.herd(backend, "0")?;
    let names: Vec<String> = herd.names().map(str::to_owned).collect();
    let mut by_hops: std::collections::BTreeMap<usize, Histogram<u64>> = Default::default();
    let mut pollers: Vec<Client> = names
        .iter()
        .map(|n| Client::connect(herd.addr(n)?).map_err(Into::into))
        .collect::<anyhow::Result<_>>()?;
    for i in 0..suite.settings.propagation_samples {
        let origin = i % names.len();
        let client = format!("prop{i}");
        let time = herd_protocol::message::format_client_time(
            herd_protocol::Nanos::from_system_time(std::time::SystemTime::now()),
        );
        let started = Instant::now();
        pollers[origin].iamat(&client, "+34.068930-118.445127", &time)?;
        let mut waiting: Vec<usize> = (0..names.len()).filter(|&j| j != origin).collect();
        let deadline = started + Duration::from_secs(10);
        while !waiting.is_empty() {
            ensure!(
                Instant::now() < deadline,
                "update {client} from {} never reached {:?}",
                names[origin],
                waiting
            );
            let mut still = Vec::new();
            for j in waiting {
                if pollers[j].whatsat(&client, "1", 1)?.starts_with("AT ") {
                    let micros = started.elapsed().as_micros() as u64;
                    let hops = herd
                        .config()
                        .hops(&names[origin], &names[j])
                        .context("herd is connected")?;
                    let h = by_hops.entry(hops).or_insert_with(|| {
                        Histogram::new_with_bounds(1, 60_000_000, 3)
                            .unwrap_or_else(|_| unreachable!())
                    });
                    let _ = h.record(micros.max(1));
                } else {
                    still.push(j);
                }
            }
            waiting = still;
        }
    }
    for (hops, h) in by_hops {
        suite.tables.propagation.push(PropagationRow {
            backend: backend.name.clone(),
            hops,
            samples: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        });
    }
    Ok(())
}

/// Opens K connections (each sends one IAMAT, then idles) and reads the servers' memory.
fn idle(suite: &mut Suite, backend: &Manifest) -> anyhow::Result<()> {
    let counts = suite.settings.idle_counts.clone();
    for (k, rep) in counts
        .into_iter()
        .flat_map(|k| (0..suite.settings.reps).map(move |r| (k, r)))
    {
        let (herd, _logs) = suite.herd(backend, "0")?;
        let pids: Vec<u32> = herd.pids().into_values().collect();
        let rss = |pids: &[u32]| -> (u64, u64) {
            let samples: Vec<_> = pids.iter().filter_map(|&p| procfs::sample(p)).collect();
            (
                samples.iter().map(|s| s.rss_bytes).sum(),
                samples.iter().map(|s| s.threads).sum(),
            )
        };
        let (before, _) = rss(&pids);
        let targets: Vec<_> = herd
            .names()
            .map(|n| herd.addr(n))
            .collect::<anyhow::Result<_>>()?;
        let time = herd_protocol::message::format_client_time(
            herd_protocol::Nanos::from_system_time(std::time::SystemTime::now()),
        );
        let mut open = Vec::with_capacity(k);
        for i in 0..k {
            let mut c = Client::connect(targets[i % targets.len()])
                .with_context(|| format!("opening idle connection {i} of {k}"))?;
            c.iamat(&format!("idle{i}"), "+1+1", &time)?;
            open.push(c);
        }
        std::thread::sleep(Duration::from_millis(500));
        let (after, threads) = rss(&pids);
        suite.tables.idle.push(IdleRow {
            backend: backend.name.clone(),
            connections: k,
            repetition: rep,
            rss_before_bytes: before,
            rss_after_bytes: after,
            bytes_per_connection: after.saturating_sub(before) as f64 / k as f64,
            threads_after: threads,
        });
        drop(open);
    }
    Ok(())
}
