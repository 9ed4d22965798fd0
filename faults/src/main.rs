//! `faults`: fault scenarios and the soak from the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use herd_faults::scenario::{self, Outcome, Scenario};
use herd_faults::{Preset, output, plan, soak, soak_plan};
use herd_launcher::{
    Manifest, Profile, build, build_places, default_herd, discover, placement, workspace_root,
};
use herd_records::{Scenario as LoadScenario, SustainableRow};

/// Reliability under load: fault scenarios with a lost-update checker, and a soak.
///
/// `faults run` starts each backend's default five-server herd with every server-to-server
/// link behind a chaos proxy, runs open-loop IAMAT load, and injects faults: failover (kill
/// -9 one server, restart it), partition (cut the links between two halves of the herd),
/// flap (one link drops and returns every few hundred ms). After every heal the load pauses
/// and the checker asks every server (WHATSAT) for every client: an acknowledged update a
/// server still lacks at the deadline is stale there, and lost to the herd's readers;
/// recovery time runs from the heal until every server agrees. Writes faults.csv (one row
/// per fault cycle) and fault-summary.csv; exits 1 if any update was lost.
///
/// `faults soak` runs steady mixed load (80% IAMAT, 20% WHATSAT) on a plain herd, samples
/// every server's RSS and open fds from /proc, and writes soak.csv and soak-growth.csv
/// (growth over the last two thirds; target <= 5%); exits 1 if a server grew more.
///
/// Everything runs on 127.0.0.1 and is bounded in time. The CSV columns are described in
/// docs/RELIABILITY-FAULTS.md.
#[derive(Parser, Debug)]
#[command(verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct Common {
    /// quick: about a minute per backend (soak: 60 s); full: >= 100 faults per backend
    /// (soak: 30 min).
    #[arg(long, value_enum, default_value = "quick")]
    preset: Preset,
    /// Backends by manifest name (repeatable); default: every backend with a manifest.
    #[arg(long = "backend")]
    backends: Vec<String>,
    /// Run directory for the CSV files; default results/faults-<unix time>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Build and run release binaries instead of dev ones.
    #[arg(long)]
    release: bool,
    /// Use the binaries already built (bench-all builds the whole workspace once).
    #[arg(long)]
    no_build: bool,
    /// Seeds the load's and the partitions' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Offered load, commands per second over the whole herd (default: the preset's).
    #[arg(long)]
    rate: Option<f64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fault scenarios with the lost-update checker.
    Run {
        #[command(flatten)]
        common: Common,
        /// Scenarios to run (repeatable); default: failover, partition and flap (one-way
        /// runs only when named: it is expected to lose updates).
        #[arg(long = "scenario", value_enum)]
        scenarios: Vec<Scenario>,
        /// Cycles per scenario instead of the preset's.
        #[arg(long)]
        cycles: Option<usize>,
        /// Turn anti-entropy off in every server: the checker should then report lost
        /// updates (a proof that it can fail).
        #[arg(long)]
        no_anti_entropy: bool,
    },
    /// Memory and file-descriptor growth under steady load.
    Soak {
        #[command(flatten)]
        common: Common,
        /// Soak length in seconds instead of the preset's.
        #[arg(long)]
        seconds: Option<u64>,
        /// Seconds between /proc samples instead of the preset's.
        #[arg(long)]
        sample_seconds: Option<f64>,
        /// Take each backend's rate from this sustainable.csv (its mixed row, else its iamat
        /// row), times --rate-share; a backend without a row gets --rate or the preset's.
        #[arg(long)]
        rate_from: Option<PathBuf>,
        /// Share of the sustainable rate to offer.
        #[arg(long, default_value_t = 0.7)]
        rate_share: f64,
        /// Soak this many backends at once, each lane (its herd and its load) pinned to
        /// its own share of the CPUs, backends dealt to the lanes in turn. 1 (the default)
        /// soaks one backend at a time, unpinned. With 2 CPUs, 2 lanes halve the wall time
        /// but give each herd one CPU shared with its load.
        #[arg(long, default_value_t = 1)]
        lanes: usize,
    },
}

struct Setup {
    root: PathBuf,
    profile: Profile,
    manifests: Vec<Manifest>,
    out: PathBuf,
}

fn setup(common: &Common) -> anyhow::Result<Setup> {
    let root = workspace_root()?;
    let profile = if common.release {
        Profile::Release
    } else {
        Profile::Dev
    };
    let mut manifests = discover(&root)?;
    if !common.backends.is_empty() {
        for b in &common.backends {
            if !manifests.iter().any(|m| &m.name == b) {
                bail!("no backend named {b:?} (have a backend.toml?)");
            }
        }
        manifests.retain(|m| common.backends.contains(&m.name));
    }
    if !common.no_build {
        build_places(&root, profile)?;
        for m in &manifests {
            build(&root, m, profile)?;
        }
    }
    let out = match &common.out {
        Some(out) => out.clone(),
        None => {
            let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            root.join("results").join(format!("faults-{stamp}"))
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    Ok(Setup {
        root,
        profile,
        manifests,
        out,
    })
}

/// `share` of a backend's sustainable rate (its mixed row, else its iamat row), and where
/// it came from; `None` if the file has no row for it.
fn soak_rate(rows: &[SustainableRow], backend: &str, share: f64) -> Option<(f64, String)> {
    [LoadScenario::Mixed, LoadScenario::Iamat]
        .iter()
        .find_map(|&sc| {
            rows.iter()
                .find(|r| r.backend == backend && r.scenario == sc && r.rate > 0.0)
                .map(|r| {
                    (
                        r.rate * share,
                        format!(
                            "{:.0}% of {} sustainable {:.0}/s",
                            share * 100.0,
                            sc,
                            r.rate
                        ),
                    )
                })
        })
}

fn print_soak(o: &soak::SoakOutcome) {
    let lane = if o.cpus.is_empty() {
        String::new()
    } else {
        format!(" (CPUs {:?})", o.cpus)
    };
    for g in &o.growth {
        println!(
            "{:<10} {:<8} rss {:>7.0} -> {:>7.0} KiB ({:+.2}%)  fds {:.1} -> {:.1} ({:+.2}%)",
            o.backend,
            g.server,
            g.rss_start,
            g.rss_end,
            g.rss_pct,
            g.fds_start,
            g.fds_end,
            g.fds_pct
        );
    }
    println!(
        "{:<10} sent {} acked {} failed {}{lane}",
        o.backend, o.sent, o.acked, o.failed
    );
}

fn print_outcome(o: &Outcome) {
    let t = o.tally();
    let mut times: Vec<Duration> = o.cycles.iter().filter_map(|c| c.recovered).collect();
    times.sort();
    let p =
        |q| output::percentile(&times, q).map_or("-".into(), |d| format!("{}ms", d.as_millis()));
    println!(
        "{:<10} {:<10} faults {:>3}  acked {:>6}  lost {:>4}  stale {:>4}  recovery p50 {} p99 {} ({} of {} recovered)",
        o.backend,
        o.scenario.name(),
        o.faults(),
        o.acked,
        t.lost,
        t.stale,
        p(50.0),
        p(99.0),
        times.len(),
        o.cycles.len()
    );
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Run {
            common,
            scenarios,
            cycles,
            no_anti_entropy,
        } => {
            let s = setup(&common)?;
            let scenarios = if scenarios.is_empty() {
                Scenario::ALL.to_vec()
            } else {
                scenarios
            };
            let mut outcomes = Vec::new();
            for m in &s.manifests {
                for &sc in &scenarios {
                    let mut p = plan(common.preset, sc, common.seed);
                    p.cycles = cycles.unwrap_or(p.cycles);
                    p.anti_entropy = !no_anti_entropy;
                    if let Some(rate) = common.rate {
                        p.load.rate = rate;
                    }
                    let o = scenario::run(&s.root, m, s.profile, default_herd(&s.root)?, sc, &p)?;
                    print_outcome(&o);
                    outcomes.push(o);
                    // Written after every scenario, so an interrupted run keeps its results.
                    output::write_faults(&s.out, &outcomes)?;
                }
            }
            println!("results in {}", s.out.display());
            let lost: usize = outcomes.iter().map(|o| o.tally().lost).sum();
            Ok(if lost == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Soak {
            common,
            seconds,
            sample_seconds,
            rate_from,
            rate_share,
            lanes,
        } => {
            let s = setup(&common)?;
            let mut p = soak_plan(common.preset, common.seed);
            if let Some(secs) = seconds {
                p.duration = Duration::from_secs(secs);
            }
            if let Some(secs) = sample_seconds {
                p.sample_every = Duration::from_secs_f64(secs.max(0.1));
            }
            if let Some(rate) = common.rate {
                p.load.rate = rate;
            }
            let sustainable: Vec<SustainableRow> = match &rate_from {
                Some(path) => herd_records::read_csv(path)?,
                None => Vec::new(),
            };
            let mut jobs = Vec::new();
            for m in &s.manifests {
                let mut p = p.clone();
                let source = match soak_rate(&sustainable, &m.name, rate_share) {
                    Some((rate, source)) => {
                        p.load.rate = rate;
                        source
                    }
                    None => match common.rate {
                        Some(rate) => {
                            p.load.rate = rate;
                            "given".into()
                        }
                        None => "preset".into(),
                    },
                };
                jobs.push((m, p, source));
            }
            let lanes = placement::lanes(&placement::available()?, lanes)?;
            let outcomes = std::sync::Mutex::new(Vec::new());
            let topology = default_herd(&s.root)?;
            std::thread::scope(|scope| -> anyhow::Result<()> {
                let handles: Vec<_> = lanes
                    .iter()
                    .enumerate()
                    .map(|(i, cpus)| {
                        let mine: Vec<_> = jobs.iter().skip(i).step_by(lanes.len()).collect();
                        let (s, outcomes, topology) = (&s, &outcomes, &topology);
                        scope.spawn(move || -> anyhow::Result<()> {
                            // Affinity is inherited: the herd and the load this thread starts
                            // stay on the lane's CPUs.
                            placement::pin_current_thread(cpus)?;
                            for (m, p, source) in mine {
                                // A soak is minutes of silence otherwise: say what started.
                                println!(
                                    "{:<10} soaking for {} s at {:.0}/s ({source} rate) on CPUs {cpus:?}",
                                    m.name,
                                    p.duration.as_secs(),
                                    p.load.rate,
                                );
                                let mut o = soak::run(&s.root, m, s.profile, topology.clone(), p)?;
                                o.rate_source = source.clone();
                                o.cpus = cpus.clone();
                                print_soak(&o);
                                let mut all = outcomes.lock().expect("no lane panicked");
                                all.push(o);
                                output::write_soak(&s.out, &all)?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .try_for_each(|h| h.join().expect("a soak lane panicked"))
            })?;
            let outcomes = outcomes.into_inner().expect("no lane panicked");
            println!("results in {}", s.out.display());
            let ok = outcomes
                .iter()
                .flat_map(|o| &o.growth)
                .all(|g| g.within(soak::TARGET_GROWTH_PCT));
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
