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

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

pub const META_FILE: &str = "meta.json";
pub const SUMMARY_FILE: &str = "summary.csv";
pub const TIMELINE_FILE: &str = "timeline.csv";
pub const SWEEP_FILE: &str = "sweep.csv";
pub const PROPAGATION_FILE: &str = "propagation.csv";
pub const IDLE_FILE: &str = "idle.csv";
pub const CEILING_FILE: &str = "ceiling.csv";
pub const SOURCE_FILE: &str = "source.json";

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
    /// How processes were pinned to CPUs, if at all.
    pub pinning: Option<String>,
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
    pub scenario: String,
    pub what: String,
}

/// One backend × scenario × rate × repetition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub backend: String,
    pub scenario: String,
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
    /// Servers' user+system CPU per 1,000 answered commands.
    pub cpu_ms_per_1000: f64,
    /// Servers' CPU time over wall time (1.0 = one core busy).
    pub server_cpu_cores: f64,
    pub peak_rss_sum_bytes: u64,
    pub peak_rss_max_bytes: u64,
    pub server_threads: u64,
    /// Load generator CPU over wall time; near its thread count means it was the limit.
    pub loadgen_cpu_cores: f64,
    pub loadgen_bound: bool,
}

/// One second of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRow {
    pub backend: String,
    pub scenario: String,
    pub repetition: u32,
    pub target_rate: f64,
    pub second: u32,
    pub ok: u64,
    pub errors: u64,
    pub p99_us: u64,
}

/// One step of a rate sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    pub backend: String,
    pub scenario: String,
    pub step: u32,
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

/// The load generator against the runtime-free reference responder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CeilingRow {
    pub connections: usize,
    pub pipeline: usize,
    pub achieved_rate: f64,
    pub p99_us: u64,
    pub loadgen_cpu_cores: f64,
    pub responder_cpu_cores: f64,
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
            pinning: None,
            places_latency: "20ms".into(),
            loadgen_threads: 1,
            p99_objective_us: 10_000,
            problems: vec![Problem {
                backend: "b".into(),
                scenario: "s".into(),
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
}
