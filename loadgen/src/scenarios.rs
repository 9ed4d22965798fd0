//! The scenarios: small presets over the one driver (see [`Scenario`] for what each does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use hdrhistogram::Histogram;
use herd_launcher::{Client, Herd, Manifest};
use herd_records::{
    FailureRow, IdleRow, Phase, Problem, PropagationRow, Scenario, SummaryRow, SustainableRow,
    SweepRow,
};

use crate::procfs;
use crate::schedule::Schedule;
use crate::search::Sweep;
use crate::suite::{PointFailed, Suite};
use crate::workload;

/// Clients registered before query scenarios.
const SEEDS: usize = 32;

/// Which herd a scenario runs on: scenarios of one group run one after the other on one
/// started herd (the suite keeps it between them); idle always starts its own, and single
/// starts its own servers after stopping any kept herd.
pub fn herd_group(scenario: Scenario) -> u8 {
    match scenario {
        Scenario::Whatsat | Scenario::Mixed => 1,
        Scenario::Idle => 2,
        Scenario::Single => 3,
        _ => 0,
    }
}

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
            suite.keep_herd(herd, _logs, "0");
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
            suite.keep_herd(herd, _logs, &s.places_latency);
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
            suite.keep_herd(herd, _logs, "0");
        }
        Scenario::Sweep => sweep(suite, backend)?,
        Scenario::Propagation => propagation(suite, backend)?,
        Scenario::Idle => idle(suite, backend)?,
        Scenario::Single => crate::single::run(suite, backend)?,
    }
    Ok(())
}

/// The suite's loop over backends and scenarios lives beside the scenarios it dispatches to,
/// so `suite.rs` (the herd, the tables, the measurement) never imports this module.
impl Suite {
    /// Runs every scenario on every backend, recording failures as problems. A backend's
    /// scenarios run grouped by the herd they need ([`herd_group`]) so
    /// one started herd serves a group.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let mut scenarios = self.settings.scenarios.clone();
        scenarios.sort_by_key(|&s| herd_group(s));
        for backend in self.settings.backends.clone() {
            for &scenario in &scenarios {
                let step = format!("{} / {}", backend.name, scenario.name());
                if self.progress.is_hidden() {
                    // No terminal (CI, a log file): plain lines instead of a bar.
                    let (at, of) = (
                        self.progress.position() + 1,
                        self.progress.length().unwrap_or(0),
                    );
                    eprintln!("[{at}/{of}] {step}");
                }
                self.progress.set_message(step.clone());
                let started = std::time::Instant::now();
                self.attempt(&backend, scenario);
                if self.progress.is_hidden() {
                    eprintln!("    {step}: {:.1} s", started.elapsed().as_secs_f64());
                }
                self.tables.write(&self.settings.out)?;
                self.write_meta()?;
                self.progress.inc(1);
            }
            self.release_herd();
        }
        self.progress.finish_with_message("done");
        Ok(())
    }

    /// Runs one scenario, retrying it on a fresh herd when a point fails; the last failure
    /// goes to `failures.csv`.
    fn attempt(&mut self, backend: &Manifest, scenario: Scenario) {
        let attempts = self.settings.scenario_attempts.max(1);
        let mut reasons = Vec::new();
        let mut point = String::from("setup");
        for attempt in 1..=attempts {
            let mark = self.tables.mark();
            let Err(e) = run(self, backend, scenario) else {
                return;
            };
            self.tables.rollback(mark);
            let what = format!("{e:#}");
            if let Some(p) = e.downcast_ref::<PointFailed>() {
                point.clone_from(&p.point);
            }
            self.note(format!(
                "attempt {attempt}/{attempts} of {} / {scenario} failed: {}",
                backend.name,
                what.lines().next().unwrap_or_default()
            ));
            self.tables.problems.push(Problem {
                backend: backend.name.clone(),
                scenario,
                what: what.clone(),
            });
            reasons.push(what);
        }
        self.tables.failures.push(FailureRow {
            backend: backend.name.clone(),
            scenario,
            point,
            attempts,
            reason: reasons.last().cloned().unwrap_or_default(),
        });
    }
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

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Whether one repetition kept up: under the p99 objective, (almost) nothing failed, and
/// at least 95% of the asked rate answered.
fn kept_up(r: &SummaryRow, objective_us: u64) -> bool {
    let failed = r.errors + r.timeouts + r.wrong;
    r.p99_us <= objective_us
        && (failed as f64) < 0.001 * r.sent.max(1) as f64
        && r.achieved_rate >= 0.95 * r.target_rate
}

/// One sweep point from its repetitions.
fn sweep_row(
    backend: &str,
    step: u32,
    phase: Phase,
    rate: f64,
    rows: &[SummaryRow],
    objective_us: u64,
) -> SweepRow {
    let p99s: Vec<u64> = rows.iter().map(|r| r.p99_us).collect();
    let sent: u64 = rows.iter().map(|r| r.sent).sum();
    let failed: u64 = rows.iter().map(|r| r.errors + r.timeouts + r.wrong).sum();
    let achieved = rows.iter().map(|r| r.achieved_rate).sum::<f64>() / rows.len().max(1) as f64;
    let p99 = median(p99s.clone());
    let error_fraction = failed as f64 / sent.max(1) as f64;
    let worst = |f: fn(&SummaryRow) -> f64| rows.iter().map(f).fold(0.0, f64::max);
    SweepRow {
        backend: backend.into(),
        scenario: Scenario::Iamat,
        step,
        phase,
        target_rate: rate,
        achieved_rate: achieved,
        p50_us: median(rows.iter().map(|r| r.p50_us).collect()),
        p99_us: p99,
        p99_min_us: p99s.iter().copied().min().unwrap_or(0),
        p99_max_us: p99s.iter().copied().max().unwrap_or(0),
        error_fraction,
        sustainable: p99 <= objective_us && error_fraction < 0.001 && achieved >= 0.95 * rate,
        server_cpu_us_per_command: median_f(
            rows.iter().map(|r| r.server_cpu_us_per_command).collect(),
        ),
        loadgen_cpu_us_per_command: median_f(
            rows.iter().map(|r| r.loadgen_cpu_us_per_command).collect(),
        ),
        loadavg_1m: worst(|r| r.loadavg_1m),
        steal_fraction: worst(|r| r.steal_fraction),
        outside_cpu_cores: worst(|r| r.outside_cpu_cores),
        disturbed: rows.iter().any(|r| r.disturbed),
    }
}

/// Finds the highest sustainable open-loop IAMAT rate: ramp, bisection to the search's
/// precision, then repetitions at the found rate until a confirmation holds (see
/// [`crate::search::Sweep`]). Every point is kept in `sweep.csv`; the answer goes to
/// `sustainable.csv` with the figures of the confirmation it came from.
fn sweep(suite: &mut Suite, backend: &Manifest) -> anyhow::Result<()> {
    let s = suite.settings.clone();
    let objective_us = s.p99_objective.as_micros() as u64;
    let (mut herd, _logs) = suite.herd(backend, "0")?;
    let bounds = match probe(suite, &herd) {
        Ok(rate) => {
            let b = s.search.from_probe(rate);
            suite.note(format!(
                "{} / sweep: {rate:.0}/s closed loop, searching from {:.0}/s",
                backend.name, b.start
            ));
            b
        }
        Err(e) => {
            suite.note(format!(
                "{} / sweep: closed-loop probe failed ({e:#}), searching from {:.0}/s",
                backend.name, s.search.start
            ));
            s.search
        }
    };
    let mut sweep = Sweep::new(bounds, s.confirm_rounds);
    // The repetitions of the last confirmation measured.
    let mut confirmation: Vec<SummaryRow> = Vec::new();
    let mut step = 0;
    while let Some((phase, rate)) = sweep.next() {
        let mut plan = suite.plan(
            &herd,
            Schedule::Open { rate },
            s.connections,
            Arc::new(workload::iamat),
        )?;
        plan.drain = Duration::from_secs(1);
        let reps = if phase == Phase::Confirm {
            s.confirm_reps
        } else {
            s.search_reps
        };
        let mut rows = Vec::new();
        let judge = |r: &SummaryRow| kept_up(r, objective_us);
        for rep in 0..reps {
            rows.push(suite.measure_point(&mut herd, Scenario::Sweep, &plan, rep, Some(&judge))?);
        }
        let row = sweep_row(&backend.name, step, phase, rate, &rows, objective_us);
        step += 1;
        suite.tables.sweep.push(row.clone());
        suite.tables.write(&s.out)?;
        if phase == Phase::Confirm {
            sweep.record(phase, rate, held(&rows, objective_us));
            confirmation = rows;
        } else {
            sweep.record(phase, rate, row.sustainable);
        }
    }
    suite.tables.sustainable.push(sustainable_row(
        &backend.name,
        &sweep,
        &confirmation,
        objective_us,
    ));
    suite.keep_herd(herd, _logs, "0");
    Ok(())
}

/// The herd's closed-loop IAMAT rate over one second (as fast as it answers on the sweep's
/// connections and pipeline): where the search starts ([`crate::search::Bounds::from_probe`]). Not a
/// sweep point, so not recorded.
fn probe(suite: &Suite, herd: &Herd) -> anyhow::Result<f64> {
    let mut plan = suite.plan(
        herd,
        Schedule::Closed,
        suite.settings.connections,
        Arc::new(workload::iamat),
    )?;
    plan.warmup = Duration::from_millis(300);
    plan.stop = crate::schedule::Stop::After(Duration::from_secs(1));
    plan.drain = Duration::from_millis(500);
    let out = crate::driver::run(&plan)?;
    let seconds = out.measured.as_secs_f64();
    ensure!(out.ok > 0 && seconds > 0.0, "nothing answered");
    Ok(out.ok as f64 / seconds)
}

/// Whether a confirmation held: most of its repetitions kept up.
fn held(rows: &[SummaryRow], objective_us: u64) -> bool {
    2 * rows.iter().filter(|r| kept_up(r, objective_us)).count() > rows.len()
}

/// The sweep's answer: the last confirmation's rate and figures (held, or the last tried
/// when none held; the report tells them apart by `passed`), or 0 when nothing passed.
fn sustainable_row(
    backend: &str,
    sweep: &Sweep,
    confirmation: &[SummaryRow],
    objective_us: u64,
) -> SustainableRow {
    let search = sweep.search();
    let rate = sweep.last_confirmation().unwrap_or(0.0);
    // Failed confirmations count as failures, so this bounds the reported rate even when it
    // is below the search's own interval.
    let precision = match search.lowest_fail() {
        Some(fail) if rate > 0.0 && fail > rate => (fail - rate) / rate,
        _ => search.precision(),
    };
    let achieved: Vec<f64> = confirmation.iter().map(|r| r.achieved_rate).collect();
    let (min, max) = (
        achieved.iter().copied().fold(f64::INFINITY, f64::min),
        achieved.iter().copied().fold(0.0, f64::max),
    );
    SustainableRow {
        backend: backend.into(),
        scenario: Scenario::Iamat,
        rate,
        highest_pass: search.highest_pass().unwrap_or(0.0),
        lowest_fail: search.lowest_fail(),
        precision,
        repetitions: confirmation.len() as u32,
        passed: confirmation
            .iter()
            .filter(|r| kept_up(r, objective_us))
            .count() as u32,
        achieved_min: if confirmation.is_empty() { 0.0 } else { min },
        achieved_max: max,
        spread: if min > 0.0 && !confirmation.is_empty() {
            max / min
        } else {
            0.0
        },
        p99_us: median(confirmation.iter().map(|r| r.p99_us).collect()),
    }
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
    drop(pollers);
    suite.keep_herd(herd, _logs, "0");
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
/// Every connection reports the same client, so the herd stores one location however many
/// connections there are: the figure is what a connection costs, not a connection plus a
/// client's location stored on all five servers. One fresh herd per repetition: the counts
/// are reached in ascending order on it, each adding connections to those already open,
/// so a count's figure is all its connections' memory over the herd's memory before any
/// (the same as a fresh herd per count, with one herd start per repetition instead of one
/// per count and repetition).
fn idle(suite: &mut Suite, backend: &Manifest) -> anyhow::Result<()> {
    // Memory from a herd that already served load would hide the connections' own.
    suite.release_herd();
    let mut counts = suite.settings.idle_counts.clone();
    counts.sort_unstable();
    counts.dedup();
    for rep in 0..suite.settings.idle_reps {
        let (herd, _logs) = suite.fresh_herd(backend, "0")?;
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
        let mut open = Vec::with_capacity(counts.last().copied().unwrap_or(0));
        for &k in &counts {
            for i in open.len()..k {
                let mut c = Client::connect(targets[i % targets.len()])
                    .with_context(|| format!("opening idle connection {i} of {k}"))?;
                c.iamat("idle", "+1+1", &time)?;
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
        }
        drop(open);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(target: f64, achieved: f64, p99: u64, failed: u64, disturbed: bool) -> SummaryRow {
        SummaryRow {
            backend: "b".into(),
            scenario: Scenario::Sweep,
            repetition: 0,
            target_rate: target,
            achieved_rate: achieved,
            connections: 64,
            pipeline: 1,
            duration_s: 2.0,
            sent: 10_000,
            ok: 10_000 - failed,
            errors: failed,
            timeouts: 0,
            wrong: 0,
            p50_us: p99 / 2,
            p90_us: p99,
            p99_us: p99,
            p999_us: p99,
            max_us: p99,
            mean_us: 1.0,
            server_cpu_us_per_command: 40.0,
            loadgen_cpu_us_per_command: 5.0,
            server_cpu_cores: 0.5,
            peak_rss_sum_bytes: 0,
            peak_rss_max_bytes: 0,
            server_threads: 0,
            loadgen_cpu_cores: 0.1,
            loadgen_bound: false,
            loadavg_1m: if disturbed { 3.0 } else { 0.2 },
            steal_fraction: 0.0,
            outside_cpu_cores: if disturbed { 0.9 } else { 0.0 },
            disturbed,
        }
    }

    #[test]
    fn a_repetition_keeps_up_only_under_the_objective_without_failures_at_the_rate() {
        assert!(kept_up(&rep(5_000.0, 4_990.0, 9_000, 0, false), 10_000));
        assert!(!kept_up(&rep(5_000.0, 4_990.0, 11_000, 0, false), 10_000));
        assert!(!kept_up(&rep(5_000.0, 4_990.0, 9_000, 10, false), 10_000));
        assert!(!kept_up(&rep(5_000.0, 4_700.0, 9_000, 0, false), 10_000));
    }

    #[test]
    fn a_sweep_point_takes_medians_and_the_worst_disturbance() {
        let rows = [
            rep(8_000.0, 7_990.0, 3_000, 0, false),
            rep(8_000.0, 7_980.0, 30_000, 0, true),
            rep(8_000.0, 7_995.0, 4_000, 0, false),
        ];
        let p = sweep_row("b", 4, Phase::Bisect, 8_000.0, &rows, 10_000);
        assert_eq!(
            (p.p99_us, p.p99_min_us, p.p99_max_us),
            (4_000, 3_000, 30_000)
        );
        assert!(p.sustainable, "median p99 under the objective");
        assert!(p.disturbed && p.outside_cpu_cores == 0.9 && p.loadavg_1m == 3.0);
        assert_eq!((p.step, p.phase), (4, Phase::Bisect));
        let failing = [rep(8_000.0, 7_990.0, 3_000, 20, false)];
        assert!(!sweep_row("b", 0, Phase::Ramp, 8_000.0, &failing, 10_000).sustainable);
    }

    #[test]
    fn the_answer_carries_its_own_confirmation_figures() {
        use crate::search::Bounds;
        let bounds = Bounds {
            start: 2_000.0,
            factor: 2.0,
            precision: 0.05,
            max_rate: 100_000.0,
            min_rate: 250.0,
            max_points: 16,
        };
        // Search points pass up to 14k; confirmations (3 repetitions) hold up to 10.6k.
        let mut sweep = Sweep::new(bounds, 4);
        let mut confirmation = Vec::new();
        while let Some((phase, rate)) = sweep.next() {
            if phase == Phase::Confirm {
                let ok = rate <= 10_600.0;
                let p99 = if ok { 4_000 } else { 40_000 };
                let rows: Vec<SummaryRow> = (0..3)
                    .map(|i| rep(rate, rate - i as f64, p99, 0, false))
                    .collect();
                sweep.record(phase, rate, held(&rows, 10_000));
                confirmation = rows;
            } else {
                sweep.record(phase, rate, rate <= 14_000.0);
            }
        }
        let row = sustainable_row("b", &sweep, &confirmation, 10_000);
        assert!(row.rate <= 10_600.0 && row.rate > 0.0, "{row:?}");
        assert_eq!((row.repetitions, row.passed, row.p99_us), (3, 3, 4_000));
        assert_eq!(
            row.achieved_max, row.rate,
            "figures measured at the reported rate"
        );
        let fail = row.lowest_fail.expect("failed confirmations");
        assert!(fail > row.rate && fail <= 14_000.0, "{row:?}");
        assert!((row.precision - (fail - row.rate) / row.rate).abs() < 1e-9);

        // Rounds spent with no confirmation holding: the last one is reported, unconfirmed.
        let mut sweep = Sweep::new(bounds, 2);
        let mut confirmation = Vec::new();
        while let Some((phase, rate)) = sweep.next() {
            if phase == Phase::Confirm {
                let rows: Vec<SummaryRow> =
                    (0..3).map(|_| rep(rate, rate, 40_000, 0, false)).collect();
                sweep.record(phase, rate, held(&rows, 10_000));
                confirmation = rows;
            } else {
                sweep.record(phase, rate, rate <= 14_000.0);
            }
        }
        let row = sustainable_row("b", &sweep, &confirmation, 10_000);
        assert_eq!(row.passed, 0);
        assert_eq!(row.rate, confirmation[0].target_rate);
    }

    #[test]
    fn scenarios_sharing_a_herd_run_one_after_the_other() {
        let mut all = Scenario::ALL.to_vec();
        all.sort_by_key(|&s| herd_group(s));
        // Each group is contiguous, so the kept herd is never stopped and started again
        // within a backend; idle and single (their own servers) come after every shared one.
        let groups: Vec<u8> = all.iter().map(|&s| herd_group(s)).collect();
        assert!(groups.windows(2).all(|w| w[0] <= w[1]), "{all:?}");
        assert_eq!(&all[all.len() - 2..], &[Scenario::Idle, Scenario::Single]);
        assert_eq!(herd_group(Scenario::Whatsat), herd_group(Scenario::Mixed));
        assert_ne!(herd_group(Scenario::Whatsat), herd_group(Scenario::Iamat));
        // The sort is stable: within a group, the suite's order.
        let at = |x: Scenario| all.iter().position(|&s| s == x);
        assert!(at(Scenario::Iamat) < at(Scenario::Propagation));
        assert!(at(Scenario::Propagation) < at(Scenario::Churn));
        assert!(at(Scenario::Churn) < at(Scenario::Sweep));
    }
}
