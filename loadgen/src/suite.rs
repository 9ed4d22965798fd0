//! Runs scenarios against backends and writes everything under `results/<run-id>/`.
//!
//! Each scenario gets a fresh herd (release build, default topology). A herd that fails to
//! start or dies mid-run is recorded as a problem, with its log tail, and the suite goes
//! on; every table is rewritten after each scenario so an interrupted run keeps what it
//! measured.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use herd_launcher::{Herd, HerdSpec, Manifest, PlacesSpec, Profile, default_herd};
use herd_records::*;
use indicatif::{ProgressBar, ProgressStyle};

use crate::driver::{Outcome, Plan};
use crate::procfs::{self, Sampler};
use crate::schedule::Schedule;
use crate::{hist, meta};

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
    pub sweep_start: f64,
    pub sweep_factor: f64,
    pub sweep_max_steps: u32,
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
    pub problems: Vec<Problem>,
}

impl Tables {
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        write_csv(&dir.join(SUMMARY_FILE), &self.summary)?;
        write_csv(&dir.join(TIMELINE_FILE), &self.timeline)?;
        write_csv(&dir.join(SWEEP_FILE), &self.sweep)?;
        write_csv(&dir.join(PROPAGATION_FILE), &self.propagation)?;
        write_csv(&dir.join(IDLE_FILE), &self.idle)
    }
}

/// The state of one suite run.
pub struct Suite {
    pub settings: Settings,
    pub tables: Tables,
    pub progress: ProgressBar,
    started: SystemTime,
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
        })
    }

    /// Runs every scenario on every backend, recording failures as problems.
    pub fn run(&mut self) -> anyhow::Result<()> {
        for backend in self.settings.backends.clone() {
            for scenario in self.settings.scenarios.clone() {
                let step = format!("{} / {}", backend.name, scenario.name());
                if self.progress.is_hidden() {
                    // No terminal (CI, a log file): plain lines instead of a bar.
                    let (at, of) = (
                        self.progress.position() + 1,
                        self.progress.length().unwrap_or(0),
                    );
                    eprintln!("[{at}/{of}] {step}");
                }
                self.progress.set_message(step);
                if let Err(e) = crate::scenarios::run(self, &backend, scenario) {
                    let what = format!("{e:#}");
                    self.progress.println(format!(
                        "problem: {} / {}: {what}",
                        backend.name,
                        scenario.name()
                    ));
                    self.tables.problems.push(Problem {
                        backend: backend.name.clone(),
                        scenario,
                        what,
                    });
                }
                self.tables.write(&self.settings.out)?;
                self.write_meta()?;
                self.progress.inc(1);
            }
        }
        self.progress.finish_with_message("done");
        Ok(())
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
            crate_versions: meta::crate_versions(&s.root, meta::MEASURED_CRATES),
            command_line: s.command_line.clone(),
            backends,
            server_logs: s.server_logs,
            loadgen_cpus: Vec::new(),
            server_cpus: Vec::new(),
            places_latency: s.places_latency.clone(),
            loadgen_threads: s.loadgen_threads,
            p99_objective_us: s.p99_objective.as_micros() as u64,
            problems: self.tables.problems.clone(),
        };
        write_json(&s.out.join(META_FILE), &run)
    }

    /// Starts the default herd of `backend` with the places service at `latency`.
    pub fn herd(
        &self,
        backend: &Manifest,
        latency: &str,
    ) -> anyhow::Result<(Herd, Option<tempfile::TempDir>)> {
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
        let herd = Herd::start(&self.settings.root, spec)
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

    /// Runs one measured repetition, records its rows and histogram files.
    pub fn measure(
        &mut self,
        herd: &mut Herd,
        scenario: Scenario,
        plan: &Plan,
        rep: u32,
    ) -> anyhow::Result<SummaryRow> {
        let pids: Vec<u32> = herd.pids().into_values().collect();
        let sampler = Sampler::start(pids, Duration::from_millis(100));
        let me = std::process::id();
        let before = procfs::sample(me).unwrap_or_default();
        let wall_start = std::time::Instant::now();
        let started = SystemTime::now();
        let outcome = crate::driver::run(plan)?;
        let wall = wall_start.elapsed();
        let after = procfs::sample(me).unwrap_or_default();
        let usage = sampler.finish();
        if let Err(e) = herd.check_alive() {
            let tails: Vec<String> = herd.names().map(|n| herd.log_tail(n, 5)).collect();
            anyhow::bail!("{e:#}\n{}", tails.join("\n"));
        }
        let backend = herd.backend().name.clone();
        let target_rate = match plan.schedule {
            Schedule::Open { rate } => rate,
            Schedule::Closed => 0.0,
        };
        let row = summary_row(
            &backend,
            scenario,
            rep,
            target_rate,
            plan,
            &outcome,
            &usage,
            after.cpu.saturating_sub(before.cpu),
            wall,
        );
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
            started,
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

#[allow(clippy::too_many_arguments)]
fn summary_row(
    backend: &str,
    scenario: Scenario,
    rep: u32,
    target_rate: f64,
    plan: &Plan,
    o: &Outcome,
    usage: &procfs::Usage,
    loadgen_cpu: Duration,
    wall: Duration,
) -> SummaryRow {
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
        loadavg_1m: 0.0,
        steal_fraction: 0.0,
        outside_cpu_cores: 0.0,
        disturbed: false,
    }
}
