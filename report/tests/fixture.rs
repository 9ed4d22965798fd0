//! The report rendered from a small fixture run written here: every section present, every
//! number traceable, and the recommendation following the data when the data changes.

use std::collections::BTreeMap;
use std::path::Path;

use herd_records::*;

fn backend(name: &str, status: &str) -> BackendInfo {
    BackendInfo {
        name: name.into(),
        language: "Rust".into(),
        runtime: format!("{name} runtime"),
        runtime_crates: if name == "threads" {
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

fn summary(backend: &str, scenario: &str, rep: u32, p99: u64) -> SummaryRow {
    SummaryRow {
        backend: backend.into(),
        scenario: scenario.parse().expect("scenario"),
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

fn sweep(backend: &str, rates: &[(f64, bool)]) -> Vec<SweepRow> {
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
            server_cpu_us_per_command: 100.0,
            loadgen_cpu_us_per_command: 20.0,
            loadavg_1m: 0.5,
            steal_fraction: 0.0,
            outside_cpu_cores: 0.01,
            disturbed: false,
        })
        .collect()
}

/// Writes a fixture run where `fast` sustains the higher rate.
fn write_run(dir: &Path, fast: &str, slow: &str) {
    let meta = RunMeta {
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
        backends: vec![
            backend("smol", "maintained"),
            backend("threads", "maintained"),
            backend("async-std", "discontinued"),
        ],
        server_logs: true,
        loadgen_cpus: vec![1],
        server_cpus: vec![0],
        places_latency: "20ms".into(),
        loadgen_threads: 1,
        p99_objective_us: 10_000,
        problems: vec![Problem {
            backend: "threads".into(),
            scenario: Scenario::Idle,
            what: "server Clark exited".into(),
        }],
    };
    write_json(&dir.join(META_FILE), &meta).expect("meta");
    let mut rows = Vec::new();
    for b in ["smol", "threads", "async-std"] {
        for rep in 0..3 {
            rows.push(summary(b, "iamat", rep, 1_000));
            rows.push(summary(
                b,
                "whatsat",
                rep,
                if b == "threads" { 90_000 } else { 25_000 },
            ));
        }
    }
    write_csv(&dir.join(SUMMARY_FILE), &rows).expect("summary");
    let mut s = sweep(
        fast,
        &[
            (2_000.0, true),
            (4_000.0, true),
            (8_000.0, true),
            (16_000.0, false),
        ],
    );
    s.extend(sweep(
        slow,
        &[(2_000.0, true), (4_000.0, true), (8_000.0, false)],
    ));
    // The discontinued runtime is fastest of all: it must still not be recommended.
    s.extend(sweep(
        "async-std",
        &[(2_000.0, true), (32_000.0, true), (64_000.0, false)],
    ));
    write_csv(&dir.join(SWEEP_FILE), &s).expect("sweep");
    let idle: Vec<IdleRow> = ["smol", "threads", "async-std"]
        .iter()
        .map(|b| IdleRow {
            backend: (*b).into(),
            connections: 1000,
            repetition: 0,
            rss_before_bytes: 0,
            rss_after_bytes: 0,
            bytes_per_connection: if *b == "threads" { 90_000.0 } else { 12_000.0 },
            threads_after: 20,
        })
        .collect();
    write_csv(&dir.join(IDLE_FILE), &idle).expect("idle");
    write_csv(
        &dir.join(PROPAGATION_FILE),
        &[PropagationRow {
            backend: "smol".into(),
            hops: 1,
            samples: 10,
            p50_us: 400,
            p99_us: 900,
            max_us: 1000,
        }],
    )
    .expect("prop");
    write_csv(
        &dir.join(CEILING_FILE),
        &[CeilingRow {
            client: Client::Loadgen,
            connections: 16,
            pipeline: 1,
            achieved_rate: 80_000.0,
            p99_us: Some(300),
            client_cpu_cores: 1.0,
            responder_cpu_cores: 0.9,
            failure: None,
        }],
    )
    .expect("ceiling");
    std::fs::create_dir_all(dir.join("hgrm")).expect("hgrm dir");
    std::fs::write(dir.join("hgrm/smol-iamat-1000-r0.hgrm"), "       Value     Percentile TotalCount 1/(1-Percentile)\n\n       0.100 0.500000000000        5           2.00\n       0.900 0.990000000000       99         100.00\n").expect("hgrm");
}

fn render(fast: &str, slow: &str) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("fixture");
    std::fs::create_dir_all(&run).expect("run dir");
    write_run(&run, fast, slow);
    let report = dir.path().join("REPORT.md");
    report::generate(&run, &report).expect("report generates");
    (std::fs::read_to_string(&report).expect("report"), dir)
}

#[test]
fn every_section_is_there_with_the_fixture_numbers() {
    let (text, dir) = render("smol", "threads");
    for section in [
        "## Recommendation",
        "## Machine, method and caveats",
        "## Charts",
        "## Pros and cons",
        "## Problems met",
        "## Language-related issues",
        "## Ease of use",
        "## Performance implications",
        "## Compared with Node.js",
        "## Reliance on recent Rust and crate versions",
    ] {
        assert!(text.contains(section), "missing {section}");
    }
    assert!(text.contains("Fixture CPU with 2 cores"));
    assert!(
        text.contains("| smol | maintained | 8000/s (2.00 ms)"),
        "{text}"
    );
    assert!(
        text.contains("server Clark exited"),
        "recorded problems are reported"
    );
    assert!(
        text.contains("discontinued since 2025-08-24"),
        "maintenance comes from the records"
    );
    assert!(
        text.contains("2.5×"),
        "ceiling ratio: 80k against the best herd, 32k"
    );
    assert!(text.contains("](fixture/charts/sweep.svg)"));
    for chart in [
        "sweep.svg",
        "idle-memory.svg",
        "cpu.svg",
        "propagation.svg",
        "spectrum-iamat.svg",
    ] {
        let svg =
            std::fs::read_to_string(dir.path().join("fixture/charts").join(chart)).expect(chart);
        assert!(svg.starts_with("<svg"), "{chart}");
    }
}

#[test]
fn the_recommendation_follows_the_data() {
    let (text, _dir) = render("smol", "threads");
    assert!(text.contains("**Build the herd on smol.**"), "{text}");
    let (text, _dir) = render("threads", "smol");
    assert!(text.contains("**Build the herd on threads.**"), "{text}");
    assert!(
        !text.contains("Build the herd on async-std"),
        "a discontinued runtime is never recommended"
    );
}

#[test]
fn rendering_twice_gives_the_same_report() {
    let (first, dir) = render("smol", "threads");
    report::generate(&dir.path().join("fixture"), &dir.path().join("again.md")).expect("again");
    assert_eq!(
        first,
        std::fs::read_to_string(dir.path().join("again.md")).expect("read")
    );
}
