//! Reliability records: the fault scenarios' cycles and summaries, the soak's samples and
//! growth, and the hostile conformance cases. `faults` writes the first four, bench-all
//! writes `hostile.csv` from the conformance binary's output, and the report reads them all.
//! A run without a file did not run that part; readers say so rather than assume zeros.

use serde::{Deserialize, Serialize};

pub const FAULTS_FILE: &str = "faults.csv";
pub const FAULT_SUMMARY_FILE: &str = "fault-summary.csv";
pub const SOAK_FILE: &str = "soak.csv";
pub const SOAK_GROWTH_FILE: &str = "soak-growth.csv";
pub const HOSTILE_FILE: &str = "hostile.csv";

/// One fault cycle of one backend: a kill and restart, a partition and its heal, or one
/// link's flaps (`faults` counts the drops), then the checker's verdict after the heal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRow {
    pub backend: String,
    /// `failover`, `partition`, `flap` or `one-way`.
    pub kind: String,
    pub cycle: usize,
    /// What was done, e.g. `kill -9 Clark` or `Bailey | Clark Jaquez (4 links)`.
    pub fault: String,
    /// Faults injected in this cycle (1, or the number of drops of a flap cycle).
    pub faults: usize,
    /// Seconds since the scenario's load started, at the first injection and at the heal.
    pub injected_s: f64,
    pub healed_s: f64,
    /// From the heal until every server held every acknowledged update; empty if the
    /// deadline passed first.
    pub recovery_ms: Option<f64>,
    /// Acknowledged updates no server held at the deadline.
    pub lost: usize,
    /// (server, client) pairs behind the acknowledged update at the deadline.
    pub stale: usize,
    /// How many lost updates each server had acknowledged (`Clark:2 Jaquez:1`).
    pub lost_acked_by: String,
    /// False only in the checker's proof of failure (anti-entropy switched off). Files
    /// written before this column existed hold no proof rows.
    #[serde(default = "anti_entropy_on")]
    pub anti_entropy: bool,
}

fn anti_entropy_on() -> bool {
    true
}

/// One backend and fault kind over a whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSummaryRow {
    pub backend: String,
    pub kind: String,
    pub faults: usize,
    pub cycles: usize,
    /// IAMATs the herd acknowledged, sent, and that failed (timeout or reset) under the load.
    pub acknowledged: u64,
    pub sent: u64,
    pub failed: u64,
    pub lost: usize,
    pub stale: usize,
    pub recovered: usize,
    pub timed_out: usize,
    /// False only for the checker's proof of failure (anti-entropy switched off).
    pub anti_entropy: bool,
}

/// One /proc sample of one server during the soak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakSampleRow {
    pub backend: String,
    /// Seconds since the load started.
    pub t_s: f64,
    pub server: String,
    pub pid: u32,
    pub rss_kib: u64,
    pub fds: u64,
}

/// Growth of one server over the soak's last two thirds (target at most 5%).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakGrowthRow {
    pub backend: String,
    pub server: String,
    pub window_start_s: f64,
    pub rss_start_kib: f64,
    pub rss_end_kib: f64,
    pub rss_growth_pct: f64,
    pub fds_start: f64,
    pub fds_end: f64,
    pub fds_growth_pct: f64,
    pub within_target: bool,
    /// The offered load, commands per second over the herd, and how it was chosen.
    pub rate: f64,
    pub rate_source: String,
    /// Commands sent over the whole soak, and those that failed (timeout or reset).
    pub sent: u64,
    pub failed: u64,
    /// The CPUs the herd and its load were confined to (`0`, `0,1`); empty when the soak
    /// ran unpinned, alone on the machine. Soaks in lanes (`faults soak --lanes 2`) run side
    /// by side, each on its own CPUs.
    #[serde(default)]
    pub cpus: String,
    /// Client connections of the soak's load over all servers (enough that no
    /// connection's places calls, one at a time, are more than half busy); 0 if not
    /// recorded.
    #[serde(default)]
    pub connections: usize,
}

/// One hostile conformance case against one backend, as the conformance binary reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostileRow {
    pub backend: String,
    pub case: String,
    /// `ok`, `FAILED` or `ignored` (a known gap, still failing).
    pub outcome: String,
    /// The git revision the conformance suite was built from.
    pub revision: String,
}
