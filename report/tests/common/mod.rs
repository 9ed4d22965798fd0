//! Row builders shared by the report's integration tests (the fixture report and the
//! language sections): one place that knows how to make a plausible record of each kind.

#![allow(dead_code)] // each test file uses its own subset

use std::collections::BTreeMap;

use herd_records::*;

pub fn backend(name: &str, language: &str, status: &str) -> BackendInfo {
    BackendInfo {
        name: name.into(),
        language: language.into(),
        runtime: format!("{name} runtime"),
        runtime_crates: if name == "threads" || language != "Rust" {
            vec![]
        } else {
            vec![name.into()]
        },
        threads: 2,
        threads_meaning: "workers".into(),
        maintenance_status: status.into(),
        maintenance_since: (status != "maintained").then(|| "2025-08-24".into()),
        maintenance_advisory: (status != "maintained").then(|| "RUSTSEC-2025-0052".into()),
        maintenance_note: None,
    }
}

/// A run's meta for `backends`, on a fixed fixture host.
pub fn meta(backends: Vec<BackendInfo>) -> RunMeta {
    RunMeta {
        schema_version: SCHEMA_VERSION,
        run_id: "fixture".into(),
        started_unix: 0,
        finished_unix: 60,
        preset: "quick".into(),
        git_revision: "0123456789abcdef".into(),
        git_dirty: false,
        host: Host {
            hostname: "fixture-host".into(),
            cpu_model: "Fixture CPU".into(),
            cores: 2,
            kernel: "6.0".into(),
            memory_bytes: 8 << 30,
        },
        rustc: "rustc 1.95.0".into(),
        crate_versions: BTreeMap::from([("tokio".into(), "1.54.1".into())]),
        command_line: vec!["loadgen".into(), "run".into()],
        backends,
        server_logs: true,
        loadgen_cpus: vec![1],
        server_cpus: vec![0],
        places_latency: "20ms".into(),
        loadgen_threads: 1,
        p99_objective_us: 10_000,
        problems: vec![],
    }
}

pub fn summary(backend: &str, scenario: Scenario, rep: u32, p99: u64) -> SummaryRow {
    SummaryRow {
        backend: backend.into(),
        scenario,
        repetition: rep,
        target_rate: 1000.0,
        achieved_rate: 1000.0,
        connections: 64,
        pipeline: 1,
        duration_s: 3.0,
        sent: 3000,
        ok: 3000,
        errors: 0,
        timeouts: 0,
        wrong: 0,
        p50_us: p99 / 4,
        p90_us: p99 / 2,
        p99_us: p99 + u64::from(rep) * 10,
        p999_us: p99 * 2,
        max_us: p99 * 3,
        mean_us: p99 as f64 / 3.0,
        server_cpu_us_per_command: 100.0,
        loadgen_cpu_us_per_command: 20.0,
        server_cpu_cores: 0.1,
        peak_rss_sum_bytes: 50 << 20,
        peak_rss_max_bytes: 10 << 20,
        server_threads: 20,
        loadgen_cpu_cores: 0.3,
        loadgen_bound: false,
        loadavg_1m: 0.5,
        steal_fraction: 0.0,
        outside_cpu_cores: 0.01,
        disturbed: false,
    }
}

pub fn sweep(backend: &str, rates: &[(f64, bool)]) -> Vec<SweepRow> {
    rates
        .iter()
        .enumerate()
        .map(|(i, &(rate, ok))| SweepRow {
            backend: backend.into(),
            scenario: Scenario::Iamat,
            step: i as u32,
            phase: Phase::Ramp,
            target_rate: rate,
            achieved_rate: rate,
            p50_us: 200,
            p99_us: if ok { 2_000 } else { 20_000 },
            p99_min_us: 1_500,
            p99_max_us: 2_500,
            error_fraction: 0.0,
            sustainable: ok,
            // Cheaper per command as the rate rises (batching).
            server_cpu_us_per_command: 400_000.0 / (rate + 2_000.0),
            loadgen_cpu_us_per_command: 20.0,
            loadavg_1m: 0.5,
            steal_fraction: 0.0,
            outside_cpu_cores: 0.01,
            disturbed: false,
        })
        .collect()
}

pub fn ceiling(client: Client, c: usize, p: usize, rate: f64, failure: Option<&str>) -> CeilingRow {
    CeilingRow {
        client,
        connections: c,
        pipeline: p,
        achieved_rate: rate,
        p99_us: (client == Client::Loadgen).then_some(300),
        client_cpu_cores: 1.0,
        responder_cpu_cores: 0.9,
        failure: failure.map(str::to_owned),
    }
}
