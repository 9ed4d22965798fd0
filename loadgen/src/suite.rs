//! Runs scenarios against backends and writes everything under `results/<run-id>/`.
//!
//! A backend's scenarios that need the same kind of herd (release build, default topology,
//! the same places latency) share one started herd, run one after the other; the idle
//! scenario always gets a fresh one, and a failed scenario's retry too. Herds start on the
//! servers' CPUs while the load generator keeps to its own ([`crate::placement`]). Every
//! measured point records how disturbed the machine was ([`crate::disturbance`]); a
//! disturbed point is repeated. A point that fails (the herd died, nothing was answered)
//! fails its scenario, which is rolled back and retried on a fresh herd; one that still
//! fails is written to `failures.csv` with its reason, never as a row of zeros. Every table
//! is rewritten after each scenario so an interrupted run keeps what it measured.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use herd_launcher::{Herd, HerdSpec, Manifest, PlacesSpec, Profile, default_herd};
use herd_records::*;
use indicatif::{ProgressBar, ProgressStyle};

use crate::driver::{Outcome, Plan};
use crate::placement::{self, Placement};
use crate::procfs::{self, Sampler};
use crate::schedule::Schedule;
use crate::search::Bounds;
use crate::{disturbance, hist, meta};

/// Everything a suite run is configured with (see `loadgen run --help` for meanings).
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub out: PathBuf,
    pub run_id: String,
    pub preset: String,
    pub backends: Vec<Manifest>,
    pub scenarios: Vec<Scenario>,
    pub profile: Profile,
    pub herd_threads: usize,
    pub loadgen_threads: usize,
    pub reps: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub connections: usize,
    pub pipeline: usize,
    pub iamat_rate: f64,
    pub whatsat_rate: f64,
    pub whatsat_connections: usize,
    pub mixed_iamat_percent: u64,
    pub churn_rate: f64,
    pub places_latency: String,
    pub p99_objective: Duration,
    /// How the sweep searches for the sustainable rate.
    pub search: Bounds,
    /// Repetitions of each search point, and of the confirmation at the found rate.
    pub search_reps: u32,
    pub confirm_reps: u32,
    /// Confirmations tried before the search gives up on confirming.
    pub confirm_rounds: u32,
    /// Attempts of a scenario whose point failed, each on a fresh herd.
    pub scenario_attempts: u32,
    /// Repeats of a point measured while the machine was disturbed.
    pub disturbed_retries: u32,
    /// Repeats of a sweep repetition that fell short while the machine was disturbed (see
    /// [`retry_disturbed`]).
    pub sweep_disturbed_retries: u32,
    pub placement: Placement,
    /// Crates whose versions meta.json records (every manifest's runtime crates and the
    /// instrument's own dependencies).
    pub crate_names: Vec<String>,
    pub idle_reps: u32,
    pub idle_counts: Vec<usize>,
    pub propagation_samples: usize,
    pub server_logs: bool,
    pub command_line: Vec<String>,
}

/// Everything measured so far.
#[derive(Debug, Default)]
pub struct Tables {
    pub summary: Vec<SummaryRow>,
    pub timeline: Vec<TimelineRow>,
    pub sweep: Vec<SweepRow>,
    pub propagation: Vec<PropagationRow>,
    pub idle: Vec<IdleRow>,
    pub sustainable: Vec<SustainableRow>,
    pub failures: Vec<FailureRow>,
    pub single: Vec<SingleRow>,
    pub problems: Vec<Problem>,
}

/// Table lengths at a moment, to roll back a failed scenario's rows.
#[derive(Debug, Clone, Copy)]
pub struct Mark([usize; 7]);

impl Tables {
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        write_csv(&dir.join(SUMMARY_FILE), &self.summary)?;
        write_csv(&dir.join(TIMELINE_FILE), &self.timeline)?;
        write_csv(&dir.join(SWEEP_FILE), &self.sweep)?;
        write_csv(&dir.join(PROPAGATION_FILE), &self.propagation)?;
        write_csv(&dir.join(IDLE_FILE), &self.idle)?;
        write_csv(&dir.join(SUSTAINABLE_FILE), &self.sustainable)?;
        write_csv(&dir.join(SINGLE_FILE), &self.single)?;
        write_csv(&dir.join(FAILURES_FILE), &self.failures)
    }

    pub fn mark(&self) -> Mark {
        Mark([
            self.summary.len(),
            self.timeline.len(),
            self.sweep.len(),
            self.propagation.len(),
            self.idle.len(),
            self.sustainable.len(),
            self.single.len(),
        ])
    }

    /// Drops every data row added since `mark` (failures and problems stay).
    pub fn rollback(&mut self, mark: Mark) {
        let [a, b, c, d, e, f, g] = mark.0;
        self.summary.truncate(a);
        self.timeline.truncate(b);
        self.sweep.truncate(c);
        self.propagation.truncate(d);
        self.idle.truncate(e);
        self.sustainable.truncate(f);
        self.single.truncate(g);
    }
}

/// A measured point that failed: which point and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointFailed {
    pub point: String,
    pub reason: String,
}

impl std::fmt::Display for PointFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.point, self.reason)
    }
}

impl std::error::Error for PointFailed {}

/// The state of one suite run.
pub struct Suite {
    pub settings: Settings,
    pub tables: Tables,
    pub progress: ProgressBar,
    started: SystemTime,
    /// The herd the last scenario handed back, for the next one of the same backend that
    /// wants the same kind of herd ([`Suite::herd`]).
    kept: Option<Kept>,
}

/// A started herd between two scenarios.
struct Kept {
    backend: String,
    latency: String,
    herd: Herd,
    logs: Option<tempfile::TempDir>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Suite {
    pub fn new(settings: Settings) -> anyhow::Result<Suite> {
        for sub in ["hgrm", "hlog"] {
            std::fs::create_dir_all(settings.out.join(sub))
                .with_context(|| format!("creating {}", settings.out.display()))?;
        }
        let steps = (settings.backends.len() * settings.scenarios.len()) as u64;
        let progress = ProgressBar::new(steps);
        progress.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Ok(Suite {
            settings,
            tables: Tables::default(),
            progress,
            started: SystemTime::now(),
            kept: None,
        })
    }

    /// Prints a line above the progress bar, or plainly when there is no bar (no terminal:
    /// a hidden bar would swallow it).
    pub fn note(&self, line: String) {
        if self.progress.is_hidden() {
            eprintln!("{line}");
        } else {
            self.progress.println(line);
        }
    }

    pub fn write_meta(&self) -> anyhow::Result<()> {
        let s = &self.settings;
        let (git_revision, git_dirty) = meta::git(&s.root);
        let backends = s
            .backends
            .iter()
            .map(|m| BackendInfo {
                name: m.name.clone(),
                language: m.language.clone(),
                runtime: m.runtime.clone(),
                runtime_crates: m.runtime_crates.clone(),
                threads: s.herd_threads,
                threads_meaning: m.threads.clone(),
                maintenance_status: m.maintenance.status.clone(),
                maintenance_since: m.maintenance.since.clone(),
                maintenance_advisory: m.maintenance.advisory.clone(),
                maintenance_note: m.maintenance.note.clone(),
            })
            .collect();
        let run = RunMeta {
            schema_version: SCHEMA_VERSION,
            run_id: s.run_id.clone(),
            started_unix: unix(self.started),
            finished_unix: unix(SystemTime::now()),
            preset: s.preset.clone(),
            git_revision,
            git_dirty,
            host: meta::host(),
            rustc: meta::rustc(&s.root),
            crate_versions: meta::crate_versions(&s.root, &s.crate_names),
            command_line: s.command_line.clone(),
            backends,
            server_logs: s.server_logs,
            loadgen_cpus: s.placement.loadgen.clone(),
            server_cpus: s.placement.servers.clone(),
            places_latency: s.places_latency.clone(),
            loadgen_threads: s.loadgen_threads,
            p99_objective_us: s.p99_objective.as_micros() as u64,
            problems: self.tables.problems.clone(),
        };
        write_json(&s.out.join(META_FILE), &run)
    }

    /// The default herd of `backend` with the places service at `latency`: the one the last
    /// scenario kept ([`Suite::keep_herd`]) when it is that herd and still alive, else a
    /// fresh one (the kept one is stopped first).
    pub fn herd(
        &mut self,
        backend: &Manifest,
        latency: &str,
    ) -> anyhow::Result<(Herd, Option<tempfile::TempDir>)> {
        if let Some(mut k) = self.kept.take()
            && k.backend == backend.name
            && k.latency == latency
            && k.herd.check_alive().is_ok()
        {
            return Ok((k.herd, k.logs));
        }
        self.fresh_herd(backend, latency)
    }

    /// Hands a scenario's herd back for the next scenario that wants the same kind; a
    /// scenario that fails never does, so a retry always gets a fresh herd.
    pub fn keep_herd(&mut self, herd: Herd, logs: Option<tempfile::TempDir>, latency: &str) {
        self.kept = Some(Kept {
            backend: herd.backend().name.clone(),
            latency: latency.to_owned(),
            herd,
            logs,
        });
    }

    /// Stops the kept herd, if any.
    pub fn release_herd(&mut self) {
        self.kept = None;
    }

    /// Starts the default herd of `backend` with the places service at `latency`.
    pub fn fresh_herd(
        &mut self,
        backend: &Manifest,
        latency: &str,
    ) -> anyhow::Result<(Herd, Option<tempfile::TempDir>)> {
        self.release_herd();
        let logs = if self.settings.server_logs {
            Some(tempfile::Builder::new().prefix("herd-logs-").tempdir()?)
        } else {
            None
        };
        let mut spec = HerdSpec::new(
            backend.clone(),
            default_herd(&self.settings.root)?,
            self.settings.profile,
        );
        spec.threads = self.settings.herd_threads;
        spec.places = PlacesSpec::Service {
            latency: latency.into(),
            error_rate: 0.0,
            seed: 1,
        };
        spec.logs = logs.as_ref().map(|d| d.path().to_path_buf());
        // Started from this thread pinned to the servers' CPUs: every process inherits them.
        let herd = placement::with_cpus(&self.settings.placement.servers, || {
            Herd::start(&self.settings.root, spec)
        })?
        .with_context(|| format!("starting the {} herd", backend.name))?;
        Ok((herd, logs))
    }

    /// A plan with this suite's defaults.
    pub fn plan(
        &self,
        herd: &Herd,
        schedule: Schedule,
        connections: usize,
        workload: crate::driver::Workload,
    ) -> anyhow::Result<Plan> {
        let targets = herd
            .names()
            .map(|n| herd.addr(n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Plan {
            targets,
            connections,
            pipeline: self.settings.pipeline,
            schedule,
            warmup: self.settings.warmup,
            stop: crate::schedule::Stop::After(self.settings.duration),
            drain: Duration::from_secs(2),
            churn: false,
            threads: self.settings.loadgen_threads,
            workload,
        })
    }

    /// Runs one measured repetition (again, while the machine is disturbed, up to the
    /// retries), records its rows and histogram files. A repetition in which the herd died
    /// or nothing was answered is a [`PointFailed`].
    pub fn measure(
        &mut self,
        herd: &mut Herd,
        scenario: Scenario,
        plan: &Plan,
        rep: u32,
    ) -> anyhow::Result<SummaryRow> {
        self.measure_point(herd, scenario, plan, rep, None)
    }

    /// As [`Suite::measure`], for the sweep when `kept_up` is given: a point where the live
    /// herd answered nothing is then a result (overload), not a failure, and a disturbed
    /// repetition is measured again only while it falls short ([`retry_disturbed`]).
    pub fn measure_point(
        &mut self,
        herd: &mut Herd,
        scenario: Scenario,
        plan: &Plan,
        rep: u32,
        kept_up: Option<&dyn Fn(&SummaryRow) -> bool>,
    ) -> anyhow::Result<SummaryRow> {
        let overload_expected = kept_up.is_some();
        let target_rate = match plan.schedule {
            Schedule::Open { rate } => rate,
            Schedule::Closed => 0.0,
        };
        let point = format!("rate {target_rate:.0} rep {rep}");
        let mut attempt = 0;
        loop {
            let m = measure_once(herd, plan).map_err(|e| PointFailed {
                point: point.clone(),
                reason: format!("{e:#}"),
            })?;
            if m.outcome.ok == 0 && !overload_expected {
                return Err(PointFailed {
                    point,
                    reason: m
                        .outcome
                        .first_error
                        .unwrap_or_else(|| "no command was answered".into()),
                }
                .into());
            }
            // Judged only when it matters: a quiet measurement stands either way.
            let held = kept_up.filter(|_| m.disturbance.disturbed).map(|judge| {
                judge(&summary_row(
                    &herd.backend().name,
                    scenario,
                    rep,
                    target_rate,
                    plan,
                    &m,
                ))
            });
            if retry_disturbed(m.disturbance.disturbed, held, attempt, &self.settings) {
                attempt += 1;
                self.note(format!(
                    "{} / {scenario} {point}: disturbed (others used {:.2} cores, steal {:.1}%), repeating",
                    herd.backend().name,
                    m.disturbance.outside_cpu_cores,
                    m.disturbance.steal_fraction * 100.0
                ));
                continue;
            }
            return self.record(herd, scenario, plan, rep, target_rate, m);
        }
    }

    fn record(
        &mut self,
        herd: &Herd,
        scenario: Scenario,
        plan: &Plan,
        rep: u32,
        target_rate: f64,
        m: Measured,
    ) -> anyhow::Result<SummaryRow> {
        let backend = herd.backend().name.clone();
        let outcome = &m.outcome;
        let row = summary_row(&backend, scenario, rep, target_rate, plan, &m);
        if let Some(e) = &outcome.first_error {
            self.tables.problems.push(Problem {
                backend: backend.clone(),
                scenario,
                what: format!("rate {target_rate}: {e}"),
            });
        }
        let stem = format!("{backend}-{scenario}-{}-r{rep}", target_rate as u64);
        std::fs::write(
            self.settings.out.join("hgrm").join(format!("{stem}.hgrm")),
            hist::hgrm(&outcome.latency),
        )?;
        hist::write_interval_log(
            &self.settings.out.join("hlog").join(format!("{stem}.hlog")),
            m.started,
            &outcome.seconds,
            &stem,
        )?;
        for (second, (h, failed)) in outcome
            .seconds
            .iter()
            .zip(&outcome.failed_per_second)
            .enumerate()
        {
            self.tables.timeline.push(TimelineRow {
                backend: backend.clone(),
                scenario,
                repetition: rep,
                target_rate,
                second: second as u32,
                ok: h.len(),
                errors: failed.errors,
                wrong: failed.wrong,
                timeouts: failed.timeouts,
                p99_us: h.value_at_quantile(0.99),
            });
        }
        self.tables.summary.push(row.clone());
        Ok(row)
    }
}

/// Whether a repetition measured while the machine was disturbed is measured again
/// (`attempt` repeats made so far). A fixed-rate point gets `disturbed_retries`. A sweep
/// repetition (`kept_up` known) that kept up despite the disturbance stands: it would hold
/// on a quiet machine too. One that fell short says nothing about the runtime, since
/// stolen time alone can push p99 past the objective, so it gets `sweep_disturbed_retries`
/// tries at an undisturbed measurement; the first undisturbed one stands, pass or fail.
pub fn retry_disturbed(disturbed: bool, kept_up: Option<bool>, attempt: u32, s: &Settings) -> bool {
    retry(
        disturbed,
        kept_up,
        attempt,
        s.disturbed_retries,
        s.sweep_disturbed_retries,
    )
}

fn retry(disturbed: bool, kept_up: Option<bool>, attempt: u32, fixed: u32, sweep: u32) -> bool {
    disturbed
        && match kept_up {
            None => attempt < fixed,
            Some(true) => false,
            Some(false) => attempt < sweep,
        }
}

/// One run of a plan against a herd, with everything measured around it.
pub struct Measured {
    pub outcome: Outcome,
    pub started: SystemTime,
    pub wall: Duration,
    pub usage: procfs::Usage,
    pub loadgen_cpu: Duration,
    pub disturbance: Disturbance,
}

fn measure_once(herd: &mut Herd, plan: &Plan) -> anyhow::Result<Measured> {
    let pids: Vec<u32> = herd.pids().into_values().collect();
    let m = measure_plan(plan, pids, herd.places_pid())?;
    if let Err(e) = herd.check_alive() {
        let tails: Vec<String> = herd.names().map(|n| herd.log_tail(n, 5)).collect();
        anyhow::bail!("{e:#}\n{}", tails.join("\n"));
    }
    Ok(m)
}

/// Runs `plan` and measures around it: the servers' CPU and memory (`server_pids`), the
/// load generator's own CPU, and the machine's disturbance, counting `helper_pid` (the
/// places service) as part of the run.
pub fn measure_plan(
    plan: &Plan,
    server_pids: Vec<u32>,
    helper_pid: Option<u32>,
) -> anyhow::Result<Measured> {
    let helper_cpu = || {
        helper_pid
            .and_then(procfs::sample)
            .map(|s| s.cpu)
            .unwrap_or_default()
    };
    let sampler = Sampler::start(server_pids, Duration::from_millis(100));
    let cpu_before = disturbance::cpu_times();
    let (own_before, helper_before) = (procfs::own_cpu(), helper_cpu());
    let wall_start = std::time::Instant::now();
    let started = SystemTime::now();
    let outcome = crate::driver::run(plan);
    let wall = wall_start.elapsed();
    let (own_after, helper_after) = (procfs::own_cpu(), helper_cpu());
    let cpu_after = disturbance::cpu_times();
    let usage = sampler.finish();
    let outcome = outcome?;
    let loadgen_cpu = own_after.saturating_sub(own_before);
    let run_cpu = loadgen_cpu + usage.cpu() + helper_after.saturating_sub(helper_before);
    let disturbance = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => disturbance::judge(
            before,
            after,
            procfs::ticks_per_second(),
            wall,
            run_cpu,
            disturbance::loadavg(),
        ),
        _ => Disturbance {
            loadavg_1m: disturbance::loadavg(),
            ..Disturbance::default()
        },
    };
    Ok(Measured {
        outcome,
        started,
        wall,
        usage,
        loadgen_cpu,
        disturbance,
    })
}

/// The summary record of one measured run: what `loadgen run` writes to summary.csv and
/// `loadgen attach` prints.
pub fn summary_row(
    backend: &str,
    scenario: Scenario,
    rep: u32,
    target_rate: f64,
    plan: &Plan,
    m: &Measured,
) -> SummaryRow {
    let (o, usage, loadgen_cpu, wall) = (&m.outcome, &m.usage, m.loadgen_cpu, m.wall);
    let achieved = o.achieved_rate();
    let server_cores = usage.cpu().as_secs_f64() / usage.wall.as_secs_f64().max(1e-9);
    let loadgen_cores = loadgen_cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    let h = &o.latency;
    SummaryRow {
        backend: backend.into(),
        scenario,
        repetition: rep,
        target_rate,
        achieved_rate: achieved,
        connections: plan.connections,
        pipeline: plan.pipeline,
        duration_s: o.measured.as_secs_f64(),
        sent: o.sent,
        ok: o.ok,
        errors: o.errors,
        timeouts: o.timeouts,
        wrong: o.wrong,
        p50_us: h.value_at_quantile(0.5),
        p90_us: h.value_at_quantile(0.9),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
        mean_us: h.mean(),
        server_cpu_us_per_command: if achieved > 0.0 {
            server_cores * 1_000_000.0 / achieved
        } else {
            0.0
        },
        loadgen_cpu_us_per_command: loadgen_cpu.as_secs_f64() * 1e6 / o.sent.max(1) as f64,
        server_cpu_cores: server_cores,
        peak_rss_sum_bytes: usage.peak_rss_sum(),
        peak_rss_max_bytes: usage.peak_rss_max(),
        server_threads: usage.threads(),
        loadgen_cpu_cores: loadgen_cores,
        // Sends going out more than 2 ms late at p99 mean the load generator could not keep
        // to its own schedule: then it, not the server, set the pace.
        loadgen_bound: o.send_lag.value_at_quantile(0.99) > 2_000
            && target_rate > 0.0
            && achieved < 0.95 * target_rate,
        loadavg_1m: m.disturbance.loadavg_1m,
        steal_fraction: m.disturbance.steal_fraction,
        outside_cpu_cores: m.disturbance.outside_cpu_cores,
        disturbed: m.disturbance.disturbed,
    }
}

#[cfg(test)]
mod tests {
    use super::retry;

    #[test]
    fn a_quiet_measurement_always_stands() {
        for kept_up in [None, Some(true), Some(false)] {
            assert!(!retry(false, kept_up, 0, 1, 3));
        }
    }

    #[test]
    fn a_disturbed_fixed_rate_point_gets_its_retries() {
        assert!(retry(true, None, 0, 1, 3));
        assert!(!retry(true, None, 1, 1, 3));
    }

    #[test]
    fn a_disturbed_sweep_repetition_is_retried_only_while_it_falls_short() {
        // Kept up despite the disturbance: it stands at once.
        assert!(!retry(true, Some(true), 0, 1, 3));
        // Fell short: up to the sweep's own count of tries, then it stands as measured.
        assert!((0..3).all(|attempt| retry(true, Some(false), attempt, 1, 3)));
        assert!(!retry(true, Some(false), 3, 1, 3));
    }
}
