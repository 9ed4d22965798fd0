use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use herd_launcher::{Profile, build, build_places, discover, target_dir, workspace_root};
use herd_records::{Client, Scenario};
use loadgen::placement::{self, Placement};
use loadgen::schedule::{Schedule, Stop};
use loadgen::search::Bounds;
use loadgen::suite::{self, Settings, Suite};
use loadgen::{ceiling, driver, hist, meta, workload};

/// Drives herd backends with open-loop load and records latency, throughput, CPU and memory.
///
/// `run` starts each backend's default herd (from its backend.toml) and measures the chosen
/// scenarios, writing results/<run-id>/: summary.csv, timeline.csv, sweep.csv,
/// propagation.csv, idle.csv, single.csv, meta.json, hgrm/*.hgrm and hlog/*.hlog.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios against backends started from their manifests.
    Run(RunArgs),
    /// Measure the load generator against the runtime-free responder (writes ceiling.csv).
    Ceiling {
        /// Results directory of the run to add ceiling.csv to.
        #[arg(long)]
        out: PathBuf,
        /// Measured seconds per shape.
        #[arg(long, default_value = "3")]
        seconds: u64,
        #[arg(long, default_value_t = 1)]
        loadgen_threads: usize,
        /// Turns each client takes per shape (they alternate); the best is kept.
        #[arg(long, default_value_t = 2)]
        rounds: u32,
        /// Use the ceiling binary already built in the target directory (scripts/bench-all
        /// builds every binary of the workspace in one cargo call first).
        #[arg(long)]
        no_build: bool,
        /// Do not pin: by default the clients and the responder get disjoint CPUs.
        #[arg(long)]
        no_pin: bool,
    },
    /// Merge HdrHistogram interval logs (e.g. from several loadgen processes) into one .hgrm.
    Merge {
        /// Interval logs (.hlog) to add up.
        #[arg(required = true)]
        logs: Vec<PathBuf>,
    },
    /// Load an already running herd by address and print the summary record (the same
    /// fields as a row of summary.csv) as JSON.
    Attach {
        /// Server addresses; connections are spread over them.
        #[arg(long = "addr", required = true)]
        addrs: Vec<std::net::SocketAddr>,
        /// iamat, whatsat or mixed.
        #[arg(long, default_value = "iamat")]
        scenario: Scenario,
        /// The servers' process ids, to record their CPU and memory (else those are 0).
        #[arg(long = "server-pid")]
        server_pids: Vec<u32>,
        /// The name the record gives the backend.
        #[arg(long, default_value = "attached")]
        backend: String,
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value = "5")]
        seconds: u64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 1)]
        pipeline: usize,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Backends to run (manifest names); all by default.
    #[arg(long = "backend")]
    backends: Vec<String>,
    /// Scenarios to run (iamat, whatsat, mixed, propagation, idle, churn, sweep, single);
    /// all by default.
    #[arg(long = "scenario")]
    scenarios: Vec<Scenario>,
    /// The thorough preset: more repetitions, longer windows, 10k idle connections.
    #[arg(long)]
    full: bool,
    /// Results directory [default: results/<run-id>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run id [default: the UTC time].
    #[arg(long)]
    run_id: Option<String>,
    /// Worker threads per server (--threads of every backend) [default: CPUs].
    #[arg(long)]
    threads: Option<usize>,
    /// Load generator event-loop threads.
    #[arg(long, default_value_t = 1)]
    loadgen_threads: usize,
    /// Repetitions of every fixed-rate point [quick 3, full 3].
    /// (full measures longer windows and confirms the found limit 5 times.)
    #[arg(long)]
    reps: Option<u32>,
    /// Measured seconds per repetition [quick 2, full 5].
    #[arg(long)]
    seconds: Option<u64>,
    /// Open-loop IAMAT rate for the iamat scenario (and the single scenario's paced server),
    /// commands/s. Low enough that every herd serves it with CPU to spare, so its CPU per
    /// IAMAT is what an IAMAT costs: at 5,000/s every herd kept its one CPU 95-98% busy.
    #[arg(long, default_value_t = 1_000.0)]
    iamat_rate: f64,
    /// Open-loop rate for the whatsat and mixed scenarios, commands/s.
    #[arg(long, default_value_t = 2_000.0)]
    whatsat_rate: f64,
    /// Connections for whatsat and mixed (each has one places call in flight at most).
    #[arg(long, default_value_t = 256)]
    whatsat_connections: usize,
    /// Share of IAMATs in the mixed scenario, percent.
    #[arg(long, default_value_t = 80)]
    mixed_iamat_percent: u64,
    /// Connections for iamat and sweep.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Commands in flight per connection (1 = strict request/reply).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Places service response latency for whatsat and mixed.
    #[arg(long, default_value = "20ms")]
    places_latency: String,
    /// The p99 latency a sweep step must stay under, milliseconds.
    #[arg(long, default_value_t = 10)]
    p99_objective_ms: u64,
    /// Do not pin: by default the load generator and the servers get disjoint CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Turn the servers' logs off (they are on by default, as in production).
    #[arg(long)]
    no_server_logs: bool,
    /// Skip the manifests' build commands and use the binaries already in the target
    /// directory (scripts/bench-all builds every binary of the workspace in one cargo call,
    /// so shared crates are compiled once with one feature set).
    #[arg(long)]
    no_build: bool,
}

fn utc_run_id() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y%m%d-%H%M%S"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("run-{}", std::process::id()))
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    let mut backends = discover(&root)?;
    let all_manifests = backends.clone();
    if !args.backends.is_empty() {
        let known: Vec<String> = backends.iter().map(|m| m.name.clone()).collect();
        for wanted in &args.backends {
            anyhow::ensure!(
                known.contains(wanted),
                "no backend {wanted:?}; known: {}",
                known.join(", ")
            );
        }
        backends.retain(|m| args.backends.contains(&m.name));
    }
    let profile = Profile::Release;
    if !args.no_build {
        eprintln!(
            "building {} backends and the places service (release)...",
            backends.len()
        );
        build_places(&root, profile)?;
        for m in &backends {
            build(&root, m, profile)?;
        }
        if args.scenarios.is_empty() || args.scenarios.contains(&Scenario::Single) {
            // The single scenario measures the ceiling responder beside each server.
            let status = std::process::Command::new("cargo")
                .args(["build", "--profile", "release", "-p", "ceiling"])
                .current_dir(&root)
                .status()?;
            anyhow::ensure!(status.success(), "building the ceiling responder failed");
        }
    }
    // Pinned only now, so the builds above had every CPU (children inherit the affinity).
    let placement = if args.no_pin {
        Placement::none()
    } else {
        default_placement(args.loadgen_threads)
    };
    let run_id = args.run_id.unwrap_or_else(utc_run_id);
    let out = args
        .out
        .unwrap_or_else(|| root.join("results").join(&run_id));
    let full = args.full;
    let settings = Settings {
        root: root.clone(),
        out: out.clone(),
        run_id,
        preset: if full { "full" } else { "quick" }.into(),
        backends,
        scenarios: if args.scenarios.is_empty() {
            Scenario::ALL.to_vec()
        } else {
            args.scenarios
        },
        profile,
        herd_threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        loadgen_threads: args.loadgen_threads,
        reps: args.reps.unwrap_or(3),
        warmup: Duration::from_millis(if full { 1_000 } else { 700 }),
        duration: Duration::from_secs(args.seconds.unwrap_or(if full { 5 } else { 2 })),
        connections: args.connections,
        pipeline: args.pipeline,
        iamat_rate: args.iamat_rate,
        whatsat_rate: args.whatsat_rate,
        whatsat_connections: args.whatsat_connections,
        mixed_iamat_percent: args.mixed_iamat_percent,
        churn_rate: 500.0,
        places_latency: args.places_latency,
        p99_objective: Duration::from_millis(args.p99_objective_ms),
        search: Bounds {
            start: 2_000.0,
            factor: 2.0,
            precision: 0.05,
            max_rate: 400_000.0,
            min_rate: 250.0,
            max_points: 16,
        },
        search_reps: 1,
        confirm_reps: if full { 5 } else { 3 },
        confirm_rounds: 4,
        scenario_attempts: 2,
        disturbed_retries: 1,
        sweep_disturbed_retries: 2,
        placement,
        crate_names: meta::crate_names(&root, &all_manifests),
        idle_reps: if full { 3 } else { 2 },
        idle_counts: if full {
            vec![1_000, 5_000, 10_000]
        } else {
            vec![1_000, 5_000]
        },
        propagation_samples: if full { 200 } else { 60 },
        server_logs: !args.no_server_logs,
        command_line: std::env::args().collect(),
    };
    let mut suite = Suite::new(settings)?;
    suite.run()?;
    eprintln!("results in {}", out.display());
    for p in &suite.tables.problems {
        eprintln!(
            "problem: {} / {}: {}",
            p.backend,
            p.scenario,
            p.what.lines().next().unwrap_or_default()
        );
    }
    Ok(())
}

/// Pins this (main) thread, and so every thread it starts, to the load generator's share
/// of the CPUs; falls back to no pinning, said aloud, where affinity cannot be set.
fn default_placement(loadgen_threads: usize) -> Placement {
    let placement = match placement::available() {
        Ok(cpus) => Placement::split(&cpus, loadgen_threads),
        Err(e) => {
            eprintln!("warning: cannot read CPU affinity ({e}); nothing is pinned");
            return Placement::none();
        }
    };
    if let Err(e) = placement::pin_current_thread(&placement.loadgen) {
        eprintln!("warning: cannot pin the load generator ({e}); nothing is pinned");
        return Placement::none();
    }
    placement
}

fn print_ceiling(rows: &[herd_records::CeilingRow]) {
    for r in rows {
        let client = match r.client {
            Client::Bare => "bare",
            Client::Loadgen => "loadgen",
        };
        match &r.failure {
            None => println!(
                "{client:8} {:5} connections x {:2} in flight: {:>10.0} replies/s, client CPU {:.2} cores",
                r.connections, r.pipeline, r.achieved_rate, r.client_cpu_cores
            ),
            Some(why) => println!(
                "{client:8} {:5} connections x {:2} in flight: FAILED: {why}",
                r.connections, r.pipeline
            ),
        }
    }
    for r in rows
        .iter()
        .filter(|r| r.client == Client::Loadgen && r.failure.is_none())
    {
        let bare = rows.iter().find(|b| {
            b.client == Client::Bare
                && b.failure.is_none()
                && (b.connections, b.pipeline) == (r.connections, r.pipeline)
        });
        if let Some(b) = bare {
            println!(
                "loadgen / bare at {} x {}: {:.0}%",
                r.connections,
                r.pipeline,
                100.0 * r.achieved_rate / b.achieved_rate
            );
        }
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Ceiling {
            out,
            seconds,
            loadgen_threads,
            rounds,
            no_build,
            no_pin,
        } => {
            let root = workspace_root()?;
            if !no_build {
                let status = std::process::Command::new("cargo")
                    .args(["build", "--release", "-p", "ceiling"])
                    .current_dir(&root)
                    .status()?;
                anyhow::ensure!(status.success(), "building the ceiling responder failed");
            }
            let placement = if no_pin {
                Placement::none()
            } else {
                default_placement(loadgen_threads)
            };
            let rows = ceiling::measure(&ceiling::Setup {
                binary: target_dir(&root).join("release/ceiling"),
                duration: Duration::from_secs(seconds),
                loadgen_threads,
                rounds,
                responder_cpus: placement.servers.clone(),
            });
            std::fs::create_dir_all(&out)?;
            herd_records::write_csv(&out.join(herd_records::CEILING_FILE), &rows)?;
            print_ceiling(&rows);
            Ok(())
        }
        Command::Merge { logs } => {
            let paths: Vec<&std::path::Path> = logs.iter().map(PathBuf::as_path).collect();
            print!("{}", hist::hgrm(&hist::merge_interval_logs(&paths)?));
            Ok(())
        }
        Command::Attach {
            addrs,
            scenario,
            server_pids,
            backend,
            rate,
            seconds,
            connections,
            pipeline,
        } => {
            let workload: driver::Workload = match scenario {
                Scenario::Iamat => Arc::new(workload::iamat),
                Scenario::Whatsat | Scenario::Mixed => {
                    let time = herd_protocol::message::format_client_time(
                        herd_protocol::Nanos::from_system_time(std::time::SystemTime::now()),
                    );
                    for addr in &addrs {
                        let mut c = herd_launcher::Client::connect(*addr)
                            .with_context(|| format!("connecting to {addr}"))?;
                        for i in 0..32 {
                            let (client, location) = workload::seed_client(i);
                            c.iamat(&client, &location, &time)?;
                        }
                    }
                    if scenario == Scenario::Whatsat {
                        Arc::new(workload::whatsat(32))
                    } else {
                        workload::mixed(80, 32)
                    }
                }
                other => anyhow::bail!("attach runs iamat, whatsat or mixed, not {other}"),
            };
            let plan = driver::Plan {
                targets: addrs,
                connections,
                pipeline,
                schedule: Schedule::Open { rate },
                warmup: Duration::from_secs(1),
                stop: Stop::After(Duration::from_secs(seconds)),
                drain: Duration::from_secs(2),
                churn: false,
                threads: 1,
                workload,
            };
            let m = suite::measure_plan(&plan, server_pids, None)?;
            let row = suite::summary_row(&backend, scenario, 0, rate, &plan, &m);
            println!("{}", serde_json::to_string_pretty(&row)?);
            Ok(())
        }
    }
}
