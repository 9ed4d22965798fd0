//! The measurement records of a herdbench run, defined once.
//!
//! `loadgen` writes them into `results/<run-id>/` and `report` reads them back; neither
//! defines its own copy. CSV files hold one row per measurement so other tools can read
//! them too; `meta.json` describes the run (machine, versions, command line, backends) and
//! carries the schema version, which readers check before trusting anything else.
//!
//! This crate holds data and file I/O only: no statistics, no measuring.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod faults;
pub use faults::*;

/// Bumped whenever a field changes meaning or disappears.
///
/// 2: `Scenario` and `Client` enums instead of names as strings; disturbance and CPU per
/// command on summary and sweep rows; the sweep's search phase; `sustainable.csv` and
/// `failures.csv`; the ceiling's bare client and failures; CPU placement instead of
/// `pinning`; per-second wrong replies and timeouts in the timeline.
pub const SCHEMA_VERSION: u32 = 2;

pub const META_FILE: &str = "meta.json";
pub const SUMMARY_FILE: &str = "summary.csv";
pub const TIMELINE_FILE: &str = "timeline.csv";
pub const SWEEP_FILE: &str = "sweep.csv";
pub const PROPAGATION_FILE: &str = "propagation.csv";
pub const IDLE_FILE: &str = "idle.csv";
pub const CEILING_FILE: &str = "ceiling.csv";
pub const SUSTAINABLE_FILE: &str = "sustainable.csv";
pub const FAILURES_FILE: &str = "failures.csv";
pub const SOURCE_FILE: &str = "source.json";
pub const SINGLE_FILE: &str = "single.csv";

/// The scenarios, each a preset over the load generator's one driver. Serialised as the
/// lowercase names (`iamat`, `sweep`, ...) in every file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Location updates from many clients spread over all servers, open loop.
    Iamat,
    /// Queries whose places calls wait on a slow upstream, so work in flight piles up.
    Whatsat,
    /// A mix of updates and queries.
    Mixed,
    /// Time from an IAMAT at one server until each other server has it, by hop count.
    Propagation,
    /// Resident memory per idle connection at several connection counts.
    Idle,
    /// A new connection for every command.
    Churn,
    /// The highest sustainable IAMAT rate, found by a ramp then a bisection.
    Sweep,
    /// One server alone (no links), closed loop against the `ceiling` responder in the same
    /// run, logs off and on, and paced at the iamat scenario's rate (`single.csv`).
    Single,
}

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::Iamat,
        Scenario::Whatsat,
        Scenario::Mixed,
        Scenario::Propagation,
        Scenario::Idle,
        Scenario::Churn,
        Scenario::Sweep,
        Scenario::Single,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Iamat => "iamat",
            Scenario::Whatsat => "whatsat",
            Scenario::Mixed => "mixed",
            Scenario::Propagation => "propagation",
            Scenario::Idle => "idle",
            Scenario::Churn => "churn",
            Scenario::Sweep => "sweep",
            Scenario::Single => "single",
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Scenario, UnknownScenario> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| UnknownScenario(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScenario(pub String);

impl std::fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        write!(f, "no scenario {:?}; known: {}", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownScenario {}

/// The run as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub schema_version: u32,
    pub run_id: String,
    /// Seconds since the Unix epoch.
    pub started_unix: u64,
    pub finished_unix: u64,
    /// `quick` or `full`.
    pub preset: String,
    pub git_revision: String,
    pub git_dirty: bool,
    pub host: Host,
    pub rustc: String,
    /// Versions from Cargo.lock of the runtime crates and of the measuring crates.
    pub crate_versions: BTreeMap<String, String>,
    pub command_line: Vec<String>,
    pub backends: Vec<BackendInfo>,
    pub server_logs: bool,
    /// CPUs the load generator was confined to (empty: not pinned).
    pub loadgen_cpus: Vec<usize>,
    /// CPUs the servers (and the places service) were confined to (empty: not pinned).
    pub server_cpus: Vec<usize>,
    pub places_latency: String,
    pub loadgen_threads: usize,
    /// The p99 objective the sweep used, in microseconds.
    pub p99_objective_us: u64,
    /// Problems the harness met during the run (a backend that died, errors, timeouts).
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    pub name: String,
    pub language: String,
    pub runtime: String,
    pub runtime_crates: Vec<String>,
    /// `--threads` given to every server.
    pub threads: usize,
    /// What `--threads` means for this runtime.
    pub threads_meaning: String,
    pub maintenance_status: String,
    pub maintenance_since: Option<String>,
    pub maintenance_advisory: Option<String>,
    pub maintenance_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub backend: String,
    pub scenario: Scenario,
    pub what: String,
}

/// What else was happening on the machine while a point was measured.
///
/// A point is disturbed when processes outside the run used CPU the run needed, or the
/// hypervisor stole time; the load generator repeats such a point, and one still disturbed
/// after its retries keeps the flag.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Disturbance {
    /// The 1-minute load average at the end of the point.
    pub loadavg_1m: f64,
    /// Share of all CPU time the hypervisor stole during the point (/proc/stat).
    pub steal_fraction: f64,
    /// CPU used during the point by processes outside the run, in cores.
    pub outside_cpu_cores: f64,
    pub disturbed: bool,
}

/// One backend × scenario × rate × repetition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub backend: String,
    pub scenario: Scenario,
    pub repetition: u32,
    /// Commands per second asked for (0 for closed-loop runs).
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub connections: usize,
    /// Commands in flight per connection.
    pub pipeline: usize,
    pub duration_s: f64,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub wrong: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// Servers' user+system CPU per answered command, microseconds (replaces
    /// `cpu_ms_per_1000` of schema 1, the same number).
    pub server_cpu_us_per_command: f64,
    /// The load generator's own CPU per command sent, microseconds.
    pub loadgen_cpu_us_per_command: f64,
    /// Servers' CPU time over wall time (1.0 = one core busy).
    pub server_cpu_cores: f64,
    pub peak_rss_sum_bytes: u64,
    pub peak_rss_max_bytes: u64,
    pub server_threads: u64,
    /// Load generator CPU over wall time; near its thread count means it was the limit.
    pub loadgen_cpu_cores: f64,
    pub loadgen_bound: bool,
    pub loadavg_1m: f64,
    pub steal_fraction: f64,
    pub outside_cpu_cores: f64,
    pub disturbed: bool,
}

/// One second of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRow {
    pub backend: String,
    pub scenario: Scenario,
    pub repetition: u32,
    pub target_rate: f64,
    pub second: u32,
    pub ok: u64,
    /// Every command of this second (by intended send time) that failed: connection
    /// failures, commands queued on a dead connection, failed places calls.
    pub errors: u64,
    pub wrong: u64,
    pub timeouts: u64,
    pub p99_us: u64,
}

/// Which part of the search for the sustainable rate a sweep point belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Rates raised by a constant factor until one fails.
    Ramp,
    /// Halving the interval between the highest pass and the lowest failure.
    Bisect,
    /// Repetitions at the found rate.
    Confirm,
}

/// One measured point (all its repetitions) of the search for the sustainable rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    pub backend: String,
    /// The workload of the sweep (`iamat`).
    pub scenario: Scenario,
    /// Order of measurement within this backend's search.
    pub step: u32,
    pub phase: Phase,
    pub target_rate: f64,
    pub achieved_rate: f64,
    /// Median over repetitions.
    pub p50_us: u64,
    pub p99_us: u64,
    pub p99_min_us: u64,
    pub p99_max_us: u64,
    pub error_fraction: f64,
    /// Under the p99 objective, without errors, and achieved at least 95% of the target.
    pub sustainable: bool,
    /// Median over repetitions.
    pub server_cpu_us_per_command: f64,
    pub loadgen_cpu_us_per_command: f64,
    /// The worst repetition's.
    pub loadavg_1m: f64,
    pub steal_fraction: f64,
    pub outside_cpu_cores: f64,
    /// Some repetition was still disturbed after its retries.
    pub disturbed: bool,
}

/// The maximum sustainable rate of one backend, as the search found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SustainableRow {
    pub backend: String,
    pub scenario: Scenario,
    /// The found limit, commands/s (the highest rate that passed).
    pub rate: f64,
    pub highest_pass: f64,
    /// `None` when every rate up to the search's cap passed.
    pub lowest_fail: Option<f64>,
    /// (lowest_fail - highest_pass) / highest_pass when the search ended.
    pub precision: f64,
    /// Confirmation repetitions at `rate`, and how many of them passed.
    pub repetitions: u32,
    pub passed: u32,
    pub achieved_min: f64,
    pub achieved_max: f64,
    /// achieved_max / achieved_min over the confirmation repetitions.
    pub spread: f64,
    /// Median p99 of the confirmation repetitions, microseconds.
    pub p99_us: u64,
}

/// A measurement that still failed after its retries: a failure with its reason, never a
/// row of zeros in the data tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRow {
    pub backend: String,
    pub scenario: Scenario,
    /// Which point (`rate 8000 rep 2`, `1000 idle connections`, ...).
    pub point: String,
    pub attempts: u32,
    pub reason: String,
}

/// Update propagation by hop distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropagationRow {
    pub backend: String,
    pub hops: usize,
    pub samples: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// Resident memory with K idle connections open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleRow {
    pub backend: String,
    pub connections: usize,
    pub repetition: u32,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    pub bytes_per_connection: f64,
    pub threads_after: u64,
}

/// What a row of `single.csv` loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    /// The backend's server, alone: one process, no neighbours.
    Backend,
    /// The runtime-free `ceiling` responder, measured between the backend's points.
    Ceiling,
    /// The backend's default five-server herd (connections spread over its servers), for
    /// its CPU per IAMAT closed loop beside the server alone's.
    Herd,
}

/// How a row of `single.csv` loaded its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Closed loop, one command in flight per connection (100 connections).
    Strict,
    /// Closed loop, 16 connections with 16 commands in flight each.
    Pipelined,
    /// Open loop at the iamat scenario's rate and connections: CPU per IAMAT to set
    /// beside the herd's.
    Paced,
}

/// One repetition of one point of the `single` scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleRow {
    /// The backend whose scenario this was (ceiling rows too: measured in its turn).
    pub backend: String,
    pub server: Server,
    pub shape: Shape,
    /// The server wrote its log file (always false for the ceiling responder).
    pub logs: bool,
    pub repetition: u32,
    pub connections: usize,
    pub pipeline: usize,
    /// Commands/s asked for; 0 for closed loop.
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub p99_us: u64,
    /// Commands that failed, timed out or were answered wrongly.
    pub failed: u64,
    /// The server's user+system CPU per answered command, microseconds.
    pub server_cpu_us_per_command: f64,
    pub server_cpu_cores: f64,
    pub disturbed: bool,
}

/// Which client measured a ceiling shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Client {
    /// A minimal closed-loop client: no timing, no checks. What loopback and the responder
    /// allow.
    Bare,
    /// The load generator's driver, timing and checking every reply.
    Loadgen,
}

/// A client against the runtime-free reference responder, closed loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CeilingRow {
    pub client: Client,
    pub connections: usize,
    pub pipeline: usize,
    /// Replies/s; meaningless (0) when `failure` is set.
    pub achieved_rate: f64,
    /// `None` for the bare client, which does not time.
    pub p99_us: Option<u64>,
    pub client_cpu_cores: f64,
    pub responder_cpu_cores: f64,
    /// Why the shape could not be measured after its retries.
    pub failure: Option<String>,
}

/// What the source says about each backend, measured when the run was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFacts {
    pub protocol_code_lines: usize,
    pub shell_code_lines: usize,
    pub backends: Vec<BackendSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendSource {
    pub backend: String,
    /// Non-blank, non-comment lines of the backend's own crate.
    pub code_lines: usize,
    /// Runtime items the shell uses (`tokio::spawn`, `smol::future::or`, ...), with counts.
    pub runtime_api: BTreeMap<String, usize>,
    /// Counts of language features worth discussing (`async fn`, `.await`, `Arc`, ...).
    pub features: BTreeMap<String, usize>,
    /// The highest `rust-version` declared in the backend's dependency tree, and by whom.
    pub msrv: Option<String>,
    pub msrv_set_by: Option<String>,
    /// The same over only the crates this backend adds to the shared protocol and shell.
    pub runtime_msrv: Option<String>,
    pub runtime_msrv_set_by: Option<String>,
    /// Crates in its dependency tree.
    pub dependency_count: usize,
}

pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    for row in rows {
        w.serialize(row)?;
    }
    w.flush()?;
    Ok(())
}

/// Rows of a CSV file; a missing file is an empty table (that part of the suite did not run).
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    r.deserialize()
        .map(|row| row.with_context(|| format!("reading {}", path.display())))
        .collect()
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Reads `meta.json` of a run, refusing a schema this build does not know.
pub fn read_meta(run_dir: &Path) -> anyhow::Result<RunMeta> {
    let path = run_dir.join(META_FILE);
    let raw: serde_json::Value = read_json(&path)?;
    let version = raw
        .get("schema_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(SCHEMA_VERSION)) {
        bail!(
            "{} has schema_version {version:?}, this build reads {SCHEMA_VERSION}; regenerate the run or use the matching herdbench revision",
            path.display()
        );
    }
    serde_json::from_value(raw).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RunMeta {
        RunMeta {
            schema_version: SCHEMA_VERSION,
            run_id: "r1".into(),
            started_unix: 1,
            finished_unix: 2,
            preset: "quick".into(),
            git_revision: "abc".into(),
            git_dirty: false,
            host: Host {
                hostname: "h".into(),
                cpu_model: "cpu".into(),
                cores: 2,
                kernel: "k".into(),
                memory_bytes: 1,
            },
            rustc: "rustc".into(),
            crate_versions: BTreeMap::from([("tokio".into(), "1".into())]),
            command_line: vec!["loadgen".into()],
            backends: vec![],
            server_logs: true,
            loadgen_cpus: vec![1],
            server_cpus: vec![0],
            places_latency: "20ms".into(),
            loadgen_threads: 1,
            p99_objective_us: 10_000,
            problems: vec![Problem {
                backend: "b".into(),
                scenario: Scenario::Idle,
                what: "w".into(),
            }],
        }
    }

    #[test]
    fn meta_round_trips_and_unknown_schemas_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_json(&dir.path().join(META_FILE), &meta()).expect("write");
        assert_eq!(read_meta(dir.path()).expect("read"), meta());
        let mut future = meta();
        future.schema_version = SCHEMA_VERSION + 1;
        write_json(&dir.path().join(META_FILE), &future).expect("write");
        let err = read_meta(dir.path()).expect_err("newer schema");
        assert!(err.to_string().contains("schema_version"), "{err}");
    }

    #[test]
    fn csv_rows_round_trip_and_missing_files_are_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = vec![PropagationRow {
            backend: "tokio".into(),
            hops: 2,
            samples: 10,
            p50_us: 100,
            p99_us: 300,
            max_us: 400,
        }];
        let path = dir.path().join(PROPAGATION_FILE);
        write_csv(&path, &rows).expect("write");
        assert_eq!(read_csv::<PropagationRow>(&path).expect("read"), rows);
        assert!(
            read_csv::<IdleRow>(&dir.path().join(IDLE_FILE))
                .expect("missing is empty")
                .is_empty()
        );
    }

    #[test]
    fn enums_are_written_as_lowercase_names_and_options_as_empty_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = vec![
            CeilingRow {
                client: Client::Bare,
                connections: 100,
                pipeline: 1,
                achieved_rate: 1.0,
                p99_us: None,
                client_cpu_cores: 1.0,
                responder_cpu_cores: 1.0,
                failure: None,
            },
            CeilingRow {
                client: Client::Loadgen,
                connections: 16,
                pipeline: 16,
                achieved_rate: 0.0,
                p99_us: Some(7),
                client_cpu_cores: 0.0,
                responder_cpu_cores: 0.0,
                failure: Some("connection refused, 3 attempts".into()),
            },
        ];
        let path = dir.path().join(CEILING_FILE);
        write_csv(&path, &rows).expect("write");
        let text = std::fs::read_to_string(&path).expect("text");
        assert!(text.contains("\nbare,100,1,1.0,,"), "{text}");
        assert!(text.contains("\nloadgen,16,16,"), "{text}");
        assert_eq!(read_csv::<CeilingRow>(&path).expect("read"), rows);
        let failures = vec![FailureRow {
            backend: "smol".into(),
            scenario: Scenario::Sweep,
            point: "rate 8000 rep 1".into(),
            attempts: 3,
            reason: "herd died".into(),
        }];
        let path = dir.path().join(FAILURES_FILE);
        write_csv(&path, &failures).expect("write");
        assert!(
            std::fs::read_to_string(&path)
                .expect("text")
                .contains("smol,sweep,")
        );
        assert_eq!(read_csv::<FailureRow>(&path).expect("read"), failures);
    }

    #[test]
    fn single_rows_round_trip_with_lowercase_server_and_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let row = |server, shape, logs| SingleRow {
            backend: "tokio".into(),
            server,
            shape,
            logs,
            repetition: 1,
            connections: 16,
            pipeline: 16,
            target_rate: 0.0,
            achieved_rate: 120_000.0,
            p99_us: 900,
            failed: 0,
            server_cpu_us_per_command: 8.5,
            server_cpu_cores: 1.0,
            disturbed: false,
        };
        let rows = vec![
            row(Server::Ceiling, Shape::Pipelined, false),
            row(Server::Backend, Shape::Strict, true),
            row(Server::Backend, Shape::Paced, false),
        ];
        let path = dir.path().join(SINGLE_FILE);
        write_csv(&path, &rows).expect("write");
        let text = std::fs::read_to_string(&path).expect("text");
        assert!(
            text.contains("\ntokio,ceiling,pipelined,false,1,"),
            "{text}"
        );
        assert!(text.contains("\ntokio,backend,strict,true,"), "{text}");
        assert_eq!(read_csv::<SingleRow>(&path).expect("read"), rows);
    }

    #[test]
    fn scenario_names_parse_and_print_the_same() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).expect("json"), format!("\"{s}\""));
        }
        let err = "iamats".parse::<Scenario>().expect_err("typo");
        assert!(err.to_string().contains("known: iamat, whatsat"), "{err}");
    }
}
