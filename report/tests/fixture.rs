//! The report rendered from a small fixture run written here: every section present, every
//! number traceable, and the recommendation following the data when the data changes.

use std::collections::BTreeMap;
use std::path::Path;

use herd_records::*;

mod common;
use common::*;

/// The single scenario: smol meets every target; threads misses the every-backend share
/// (strict), the log target and the herd CPU ratio; async-std and asyncio lie between.
fn single_rows() -> Vec<SingleRow> {
    let row = |backend: &str, server, shape, logs: bool, rep: u32, rate: f64, cpu: f64| {
        let (connections, pipeline) = match shape {
            Shape::Strict => (100, 1),
            Shape::Pipelined => (16, 16),
            Shape::Paced => (64, 1),
        };
        SingleRow {
            backend: backend.into(),
            server,
            shape,
            logs,
            repetition: rep,
            connections,
            pipeline,
            target_rate: if shape == Shape::Paced { 1000.0 } else { 0.0 },
            achieved_rate: rate,
            p99_us: 1_500,
            failed: 0,
            server_cpu_us_per_command: cpu,
            server_cpu_cores: rate * cpu / 1e6,
            disturbed: false,
        }
    };
    // (backend, strict share, pipelined share, log kept, CPU µs per IAMAT alone paced and
    // the herd's closed loop; alone closed loop is 22 µs for every backend)
    let figures = [
        ("smol", 0.92, 0.72, 0.95, 40.0, 50.0),
        ("threads", 0.55, 0.65, 0.60, 25.0, 80.0),
        ("async-std", 0.80, 0.62, 0.91, 45.0, 44.0),
        ("asyncio", 0.61, 0.63, 0.92, 80.0, 60.0),
    ];
    let mut rows = Vec::new();
    for (b, strict, pipelined, kept, paced, herd) in figures {
        for rep in 0..2 {
            // The ceiling differs between repetitions; the share is taken against each.
            let wobble = 1.0 + 0.1 * f64::from(rep);
            for (shape, ceiling, share) in [
                (Shape::Strict, 80_000.0, strict),
                (Shape::Pipelined, 400_000.0, pipelined),
            ] {
                let c = ceiling * wobble;
                let share = share - 0.01 + 0.02 * f64::from(rep);
                rows.push(row(b, Server::Ceiling, shape, false, rep, c, 10.0));
                rows.push(row(b, Server::Backend, shape, false, rep, c * share, 20.0));
                let on = c * share * kept;
                rows.push(row(b, Server::Backend, shape, true, rep, on, 22.0));
            }
            rows.push(row(
                b,
                Server::Backend,
                Shape::Paced,
                true,
                rep,
                1000.0,
                paced,
            ));
            rows.push(row(
                b,
                Server::Herd,
                Shape::Strict,
                true,
                rep,
                30_000.0,
                herd,
            ));
        }
    }
    // The reference backend's pipelined points were all disturbed: not data.
    for r in &mut rows {
        if r.backend == "asyncio" && r.shape == Shape::Pipelined {
            r.disturbed = true;
        }
    }
    rows
}

/// Writes a fixture run where `fast` sustains the higher rate.
fn write_run(dir: &Path, fast: &str, slow: &str) {
    let meta = RunMeta {
        problems: vec![Problem {
            backend: "threads".into(),
            scenario: Scenario::Idle,
            what: "server Clark exited".into(),
        }],
        ..common::meta(vec![
            backend("smol", "Rust", "maintained"),
            backend("threads", "Rust", "maintained"),
            backend("async-std", "Rust", "discontinued"),
            backend("asyncio", "Python", "maintained"),
        ])
    };
    write_json(&dir.join(META_FILE), &meta).expect("meta");
    let mut rows = Vec::new();
    for b in ["smol", "threads", "async-std", "asyncio"] {
        for rep in 0..3 {
            rows.push(summary(b, Scenario::Iamat, rep, 1_000));
            rows.push(summary(
                b,
                Scenario::Whatsat,
                rep,
                if b == "threads" { 90_000 } else { 25_000 },
            ));
        }
    }
    // A repetition the machine disturbed: listed, never data (its p99 would show otherwise).
    let mut noisy = summary("smol", Scenario::Iamat, 3, 400_000);
    (noisy.disturbed, noisy.loadavg_1m, noisy.outside_cpu_cores) = (true, 3.5, 1.2);
    rows.push(noisy);
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
    // A disturbed pass above the slow backend's limit: not evidence of a higher limit.
    let mut disturbed = sweep(slow, &[(6_000.0, true)]);
    disturbed[0].disturbed = true;
    disturbed[0].steal_fraction = 0.2;
    s.extend(disturbed);
    // The discontinued runtime is fastest of all: it must still not be recommended.
    s.extend(sweep(
        "async-std",
        &[(2_000.0, true), (32_000.0, true), (64_000.0, false)],
    ));
    // A reference backend in another language: measured and shown, never recommended.
    s.extend(sweep("asyncio", &[(2_000.0, true), (4_000.0, false)]));
    write_csv(&dir.join(SWEEP_FILE), &s).expect("sweep");
    let idle: Vec<IdleRow> = ["smol", "threads", "async-std", "asyncio"]
        .iter()
        .map(|b| IdleRow {
            backend: (*b).into(),
            connections: 1000,
            repetition: 0,
            rss_before_bytes: 0,
            rss_after_bytes: 0,
            bytes_per_connection: match *b {
                "threads" => 90_000.0,
                "asyncio" => 6_000.0,
                _ => 12_000.0,
            },
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
        &[
            ceiling(Client::Bare, 100, 1, 88_000.0, None),
            ceiling(Client::Loadgen, 100, 1, 80_000.0, None),
            ceiling(Client::Bare, 16, 16, 1_000_000.0, None),
            ceiling(Client::Loadgen, 16, 16, 450_000.0, None),
            ceiling(
                Client::Loadgen,
                1000,
                1,
                0.0,
                Some("connection reset by the responder, 3 attempts"),
            ),
        ],
    )
    .expect("ceiling");
    // The search's result for the fast backend; the others stand for stepped sweeps.
    write_csv(
        &dir.join(SUSTAINABLE_FILE),
        &[SustainableRow {
            backend: fast.into(),
            scenario: Scenario::Iamat,
            rate: 8_000.0,
            highest_pass: 8_000.0,
            lowest_fail: Some(8_400.0),
            precision: 0.05,
            repetitions: 5,
            passed: 5,
            achieved_min: 7_900.0,
            achieved_max: 8_100.0,
            spread: 8_100.0 / 7_900.0,
            p99_us: 2_000,
        }],
    )
    .expect("sustainable");
    write_csv(
        &dir.join(FAILURES_FILE),
        &[FailureRow {
            backend: "threads".into(),
            scenario: Scenario::Whatsat,
            point: "rate 1000 rep 3".into(),
            attempts: 3,
            reason: "server Clark exited".into(),
        }],
    )
    .expect("failures");
    write_csv(&dir.join(SINGLE_FILE), &single_rows()).expect("single");
    let source = SourceFacts {
        protocol_code_lines: 2000,
        shell_code_lines: 500,
        backends: ["smol", "threads", "async-std"]
            .iter()
            .enumerate()
            .map(|(i, b)| BackendSource {
                backend: (*b).into(),
                code_lines: 300 + 50 * i,
                runtime_api: BTreeMap::from([(format!("{b}::spawn"), 2)]),
                features: BTreeMap::from([("async fn".into(), 3 + i)]),
                msrv: Some("1.85".into()),
                msrv_set_by: Some("lib 1.0.0".into()),
                runtime_msrv: None,
                runtime_msrv_set_by: None,
                dependency_count: 10 + i,
            })
            .collect(),
    };
    write_json(&dir.join(SOURCE_FILE), &source).expect("source");
    std::fs::create_dir_all(dir.join("hgrm")).expect("hgrm dir");
    write_reliability(dir);
    std::fs::write(dir.join("hgrm/smol-iamat-1000-r0.hgrm"), "       Value     Percentile TotalCount 1/(1-Percentile)\n\n       0.100 0.500000000000        5           2.00\n       0.900 0.990000000000       99         100.00\n").expect("hgrm");
}

/// Faults for smol (a full run's 100, none lost) and threads (a few, two lost, and the
/// checker's proof of failure); hostile cases and a soak for smol only; async-std and
/// asyncio were not put under faults.
fn write_reliability(dir: &Path) {
    let summary = |backend: &str, kind: &str, faults, cycles, lost, anti_entropy| FaultSummaryRow {
        backend: backend.into(),
        kind: kind.into(),
        faults,
        cycles,
        acknowledged: 2_000,
        sent: 2_010,
        failed: 10,
        lost,
        stale: lost * 2,
        // threads' first failover never recovered (its row below has no recovery time).
        recovered: cycles - usize::from(backend == "threads" && kind == "failover"),
        timed_out: usize::from(backend == "threads" && kind == "failover"),
        anti_entropy,
    };
    write_csv(
        &dir.join(FAULT_SUMMARY_FILE),
        &[
            summary("smol", "failover", 10, 10, 0, true),
            summary("smol", "partition", 10, 10, 0, true),
            summary("smol", "flap", 80, 8, 0, true),
            summary("threads", "failover", 3, 3, 2, true),
            summary("threads", "partition", 3, 3, 5, false),
        ],
    )
    .expect("fault summary");
    let mut rows = Vec::new();
    for (backend, kind, n) in [
        ("smol", "failover", 10),
        ("smol", "partition", 10),
        ("smol", "flap", 8),
        ("threads", "failover", 3),
        ("threads", "partition", 3),
    ] {
        for cycle in 0..n {
            rows.push(FaultRow {
                backend: backend.into(),
                kind: kind.into(),
                cycle,
                fault: format!("{kind} {cycle}"),
                faults: if kind == "flap" { 10 } else { 1 },
                injected_s: 2.0 * cycle as f64,
                healed_s: 2.0 * cycle as f64 + 1.0,
                // smol: 100, 110, ... ms; threads recovers in 1 s, but once not at all.
                recovery_ms: match backend {
                    "smol" => Some(100.0 + 10.0 * (rows.len() as f64)),
                    _ if cycle == 0 && kind == "failover" => None,
                    _ => Some(1_000.0),
                },
                lost: usize::from(backend == "threads" && cycle == 0) * 2,
                stale: 0,
                lost_acked_by: String::new(),
                anti_entropy: true,
            });
        }
    }
    write_csv(&dir.join(FAULTS_FILE), &rows).expect("faults");
    let hostile: Vec<HostileRow> = [
        ("slowloris", "ok"),
        ("non_reader", "ok"),
        ("crowd", "ignored"),
    ]
    .iter()
    .map(|(case, outcome)| HostileRow {
        backend: "smol".into(),
        case: (*case).into(),
        outcome: (*outcome).into(),
        revision: "fedcba987654".into(),
    })
    .collect();
    write_csv(&dir.join(HOSTILE_FILE), &hostile).expect("hostile");
    let mut samples = Vec::new();
    for t in 0..6 {
        for (server, rss) in [("Bailey", 10_000), ("Clark", 12_000)] {
            samples.push(SoakSampleRow {
                backend: "smol".into(),
                t_s: 10.0 * t as f64,
                server: server.into(),
                pid: 100,
                rss_kib: rss + 100 * t,
                fds: 12,
            });
        }
    }
    write_csv(&dir.join(SOAK_FILE), &samples).expect("soak");
    let growth = |server: &str, pct: f64| SoakGrowthRow {
        backend: "smol".into(),
        server: server.into(),
        window_start_s: 20.0,
        rss_start_kib: 10_000.0,
        rss_end_kib: 10_000.0 * (1.0 + pct / 100.0),
        rss_growth_pct: pct,
        fds_start: 12.0,
        fds_end: 12.0,
        fds_growth_pct: 0.0,
        within_target: pct <= 5.0,
        rate: 5_600.0,
        rate_source: "70% of iamat sustainable 8000/s".into(),
        sent: 280_000,
        failed: 0,
        cpus: "1".into(),
        connections: 70,
    };
    write_csv(
        &dir.join(SOAK_GROWTH_FILE),
        &[growth("Bailey", 1.5), growth("Clark", 2.25)],
    )
    .expect("soak growth");
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
        "## Reliability under faults",
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
        "cpu-per-command.svg",
    ] {
        let svg =
            std::fs::read_to_string(dir.path().join("fixture/charts").join(chart)).expect(chart);
        assert!(svg.starts_with("<svg"), "{chart}");
    }
    let chart = |name: &str| {
        std::fs::read_to_string(dir.path().join("fixture/charts").join(name)).expect(name)
    };
    // Scenarios by name on the CPU chart (the fixture measured iamat and whatsat only), and
    // bars, not a line.
    let cpu = chart("cpu.svg");
    assert!(
        cpu.contains("\niamat\n") && cpu.contains("\nwhatsat\n"),
        "{cpu}"
    );
    assert!(
        !cpu.contains("\nmixed\n"),
        "an unmeasured scenario gets no group"
    );
    // Four backends in two scenarios: eight bars (plus the background and legend).
    assert!(cpu.matches("<rect").count() > 8, "bars, not lines: {cpu}");
    // The found limit is marked, and reference backends are named as such in legends.
    let sweep = chart("sweep.svg");
    assert!(sweep.contains("found limit"));
    assert!(sweep.contains("asyncio (Python, reference)"));
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

/// The whole rendered report of the fixture, pinned byte for byte: any change of output
/// shows in review as a change of `tests/golden/fixture-report.md`. To accept a change,
/// run `UPDATE_GOLDEN=1 cargo test -p report --test fixture` and review the diff.
#[test]
fn the_fixture_report_matches_its_golden_file() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fixture-report.md");
    let (text, _dir) = render("smol", "threads");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().expect("parent")).expect("golden dir");
        std::fs::write(&golden, &text).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    if text != want {
        let line = text
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| text.lines().count().min(want.lines().count()));
        panic!(
            "the report differs from {} from line {}:\n  got:  {:?}\n  want: {:?}\nif the change is intended: UPDATE_GOLDEN=1 cargo test -p report --test fixture",
            golden.display(),
            line + 1,
            text.lines().nth(line),
            want.lines().nth(line)
        );
    }
}

#[test]
fn the_single_scenario_states_shares_logs_and_herd_cost_against_their_targets() {
    let (text, dir) = render("smol", "threads");
    for want in [
        "## One server alone (`single.csv`)",
        "| smol | 0.92 [0.91–0.93] | 0.72 [0.71–0.73] | 0.95 [0.95–0.95] |",
        "| threads | **0.55 [0.54–0.56]** (below 0.6) | 0.65 [0.64–0.66] | **0.60 [0.60–0.60]** (below 0.9) |",
        "best smol at 0.92, target at least 0.9: met; every backend at least 0.6: **missed** by threads.",
        "keeps at least 0.9 of its rate on both shapes: **missed** by threads (not measured for asyncio (Python, reference)).",
        "every backend at least 0.6: met (not measured for asyncio (Python, reference)).",
        "6 point(s) measured while the machine was disturbed are left out",
        "| smol | 1000/s | 100 µs | 40 µs | 2.5× | 50 µs | 22 µs | 2.3× |",
        "| threads | 1000/s | 100 µs | 25 µs | **4.0×** (above 3×) | 80 µs | 22 µs | **3.6×** (above 3×) |",
        "single-share.svg",
        "single-log.svg",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(dir.path().join("fixture/charts/single-share.svg").is_file());
}

#[test]
fn a_reference_backend_is_shown_but_never_recommended() {
    let (text, _dir) = render("smol", "threads");
    assert!(
        text.contains("| asyncio (Python, reference) | maintained | 2000/s"),
        "{text}"
    );
    assert!(
        text.contains("asyncio (Python, reference): sustained 0.25× smol's IAMAT rate"),
        "{text}"
    );
    // Lowest memory of all, and the tie rule would favour it: still not the winner.
    assert!(text.contains("**Build the herd on smol.**"));
}

/// `scripts/bench-all --backend smol --scenario iamat`: one backend, one scenario, and the
/// ceiling that every run measures. Nothing it did not measure may be computed from.
#[test]
fn a_partial_run_says_what_it_did_not_measure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("partial");
    std::fs::create_dir_all(&run).expect("run dir");
    write_run(&run, "smol", "threads");
    let mut meta = read_meta(&run).expect("meta");
    meta.backends.retain(|b| b.name == "smol");
    meta.command_line = ["loadgen", "run", "--backend", "smol", "--scenario", "iamat"]
        .map(String::from)
        .to_vec();
    write_json(&run.join(META_FILE), &meta).expect("meta");
    let rows: Vec<SummaryRow> = read_csv::<SummaryRow>(&run.join(SUMMARY_FILE))
        .expect("summary")
        .into_iter()
        .filter(|r| r.backend == "smol" && r.scenario == Scenario::Iamat)
        .collect();
    write_csv(&run.join(SUMMARY_FILE), &rows).expect("summary");
    for file in [
        SWEEP_FILE,
        SUSTAINABLE_FILE,
        FAILURES_FILE,
        IDLE_FILE,
        PROPAGATION_FILE,
        SOURCE_FILE,
        FAULTS_FILE,
        FAULT_SUMMARY_FILE,
        HOSTILE_FILE,
        SOAK_FILE,
        SOAK_GROWTH_FILE,
    ] {
        std::fs::remove_file(run.join(file)).expect(file);
    }
    let report = run.join("REPORT.md");
    report::generate(&run, &report).expect("report generates");
    let text = std::fs::read_to_string(&report).expect("report");
    assert!(
        text.contains("**A partial run:** it measured only backend smol, scenario iamat."),
        "{text}"
    );
    assert!(
        text.contains("**No recommendation: the deciding figure was not measured.**"),
        "{text}"
    );
    assert!(!text.contains("sustained even the first rate"), "{text}");
    assert!(
        text.contains(
            "| smol | maintained | not measured | – | – | not measured | not measured | 100 µs at 1000/s |"
        ),
        "{text}"
    );
    assert!(
        text.contains("the sweep did not run, so no ratio to the herds is stated"),
        "{text}"
    );
    assert!(
        !text.contains("× the best sustained herd rate"),
        "no ratio computed from absent data: {text}"
    );
    assert!(
        text.contains("Not measured in this run: the whatsat scenario, the mixed scenario, propagation, idle connections, the churn scenario, the sweep (the sustainable rate) and the source facts (`source.json`)."),
        "{text}"
    );
    // Charts link from the report inside the run directory.
    assert!(text.contains("](charts/"), "{text}");
    for needle in [
        "This run did not inject faults (no `fault-summary.csv`)",
        "This run holds no proof that the checker can fail",
        "This run did not run the hostile conformance cases",
        "This run has no soak",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("soak-memory.svg") && !text.contains("fault-recovery.svg"));
}

#[test]
fn a_partial_run_never_takes_the_project_report_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("whole");
    std::fs::create_dir_all(&run).expect("run dir");
    write_run(&run, "smol", "threads");
    let project = dir.path().join("REPORT.md");
    assert_eq!(report::report_path(&run, None).expect("whole"), project);
    let mut meta = read_meta(&run).expect("meta");
    meta.command_line = ["loadgen", "run", "--scenario=iamat"]
        .map(String::from)
        .to_vec();
    write_json(&run.join(META_FILE), &meta).expect("meta");
    assert_eq!(
        report::report_path(&run, None).expect("partial"),
        run.join("REPORT.md")
    );
    // Asked for explicitly, by any spelling of the path, it is refused.
    let spelled = run.join("..").join("REPORT.md");
    let err = report::report_path(&run, Some(spelled)).expect_err("refused");
    assert!(err.to_string().contains("partial run"), "{err}");
    let elsewhere = dir.path().join("partial.md");
    assert_eq!(
        report::report_path(&run, Some(elsewhere.clone())).expect("elsewhere"),
        elsewhere
    );
}

#[test]
fn the_instrument_failures_and_disturbance_are_stated_never_drawn() {
    let (text, _dir) = render("smol", "threads");
    for needle in [
        // Loadgen against the bare client, both shapes, with the verdict on each.
        "Strict request/reply, 100 connections: the load generator reached 80.0k/s against the bare client's 88.0k/s (`ceiling.csv`), 91% of it: at least the 90%",
        "Pipelined, 16 connections × 16 in flight: the load generator reached 450.0k/s against the bare client's 1.00M/s (`ceiling.csv`), 45% of it: **below 90%",
        // Placement from meta.json.
        "the load generator on CPU 1, the servers and the places service on CPU 0: disjoint cores",
        // Failures with their reasons, not rows of zeros.
        "- threads / whatsat: **failed** at rate 1000 rep 3 after 3 attempt(s): server Clark exited.",
        "- ceiling / load generator client, 1000 connections × 1 in flight: **failed**: connection reset by the responder, 3 attempts.",
        // Disturbed points listed.
        "- smol / iamat at 1000/s, repetition 3: **disturbed** (load average 3.50, steal 0.0%, 1.20 cores used outside the run)",
        "- threads / sweep at 6000/s: **disturbed** (load average 0.50, steal 20.0%",
        // The deciding figure's spread, and the search's precision.
        "| smol | maintained | 8000/s (2.00 ms) | 5.0% | 1.025, 5 of 5 |",
        "held over 5 confirmation repetitions (5 passed) with a spread of 1.025",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // The disturbed repetition's p99 (400 ms) is in no table, and the disturbed sweep pass
    // did not raise threads' limit.
    assert!(!text.contains("400 ms"), "{text}");
    assert!(
        text.contains("| threads | maintained | 4000/s (2.00 ms) |"),
        "{text}"
    );
    // The stepped sweep's limit has no confirmation to show.
    assert!(
        text.contains("| threads | maintained | 4000/s (2.00 ms) | – | – |"),
        "{text}"
    );
}

#[test]
fn scripts_report_picks_the_newest_whole_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, partial: bool| {
        let run = dir.path().join(name);
        std::fs::create_dir_all(&run).expect("run dir");
        write_run(&run, "smol", "threads");
        // bench-all names a run's directory by its run id.
        let mut meta = read_meta(&run).expect("meta");
        meta.run_id = name.to_owned();
        if partial {
            meta.command_line = ["loadgen", "run", "--backend", "smol"]
                .map(String::from)
                .to_vec();
        }
        write_json(&run.join(META_FILE), &meta).expect("meta");
    };
    write("20260101-000000", false);
    write("20260102-000000", false);
    write("20260103-000000", true);
    std::fs::create_dir_all(dir.path().join("20260104-000000")).expect("no meta");
    assert_eq!(
        report::newest_run(dir.path()).expect("newest"),
        dir.path().join("20260102-000000")
    );
    let only_partial = tempfile::tempdir().expect("tempdir");
    let run = only_partial.path().join("20260103-000000");
    std::fs::rename(dir.path().join("20260103-000000"), &run).expect("move");
    assert_eq!(
        report::newest_run(only_partial.path()).expect("newest"),
        run
    );
    assert!(report::newest_run(&dir.path().join("absent")).is_err());

    // Re-rendering without a run named keeps to the run of the committed report.
    let results = dir.path();
    assert_eq!(
        report::default_run(results).expect("no report yet: the newest whole run"),
        results.join("20260102-000000")
    );
    let older = results.join("20260101-000000");
    report::generate(&older, &results.join("REPORT.md")).expect("render");
    assert_eq!(report::default_run(results).expect("default"), older);
    std::fs::remove_dir_all(&older).expect("remove");
    assert_eq!(
        report::default_run(results).expect("its run is gone: the newest whole run"),
        results.join("20260102-000000")
    );
}

#[test]
fn the_verdict_line_names_the_winner_and_its_deciding_figure() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (fast, slow) in [("smol", "threads"), ("threads", "smol")] {
        let run = dir.path().join(fast);
        std::fs::create_dir_all(&run).expect("run dir");
        write_run(&run, fast, slow);
        let line = report::verdict_line(&report::load::Run::load(&run).expect("load"));
        assert_eq!(
            line,
            format!(
                "fixture: winner {fast} at 8000/s (found to 5.0%, confirmed 5/5, spread 2.5%); runner-up {slow} at 4000/s"
            )
        );
    }
}

/// The reliability section: faults by kind, lost updates, recovery percentiles, hostile
/// cases and the soak, each from its file; the proof of failure kept apart.
#[test]
fn the_reliability_section_follows_the_fault_files() {
    let (text, dir) = render("smol", "threads");
    for needle in [
        // smol: 100 faults, recovery 100..370 ms over 28 cycles (nearest rank).
        "| smol | 100 (10 / 10 / 80) | 0 | 0 | 0 | 230 / 350 / 370 / 370 ms | 2 of 3, 1 known gap(s) | +2.25% / +0.00% |",
        // threads: only the anti-entropy-on failovers count; one cycle never recovered.
        "| threads | 3 (3 / – / –) | **2** | 4 | 1 | 1000 / 1000 / 1000 / 1000 ms | not run | no soak |",
        "| async-std | not measured |",
        "**Lost updates:** threads (2 lost); none lost by smol.",
        "Fewer than 100 faults for threads (quick preset",
        "Not measured under faults in this run: async-std and asyncio.",
        "anti-entropy switched off (not counted above): threads partition: 5 lost.",
        "The hostile cases ran at revision `fedcba987654`",
        "| smol | 5600/s (70% of iamat sustainable 8000/s, 70 connections) | 20 s | +2.25% | +0.00% | yes | 280000 | 0 | 1 |",
        "](fixture/charts/fault-recovery.svg)",
        "](fixture/charts/soak-memory.svg)",
        "](fixture/charts/soak-fds.svg)",
        "](fixture/charts/soak-growth.svg)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let charts = dir.path().join("fixture/charts");
    for chart in ["soak-memory.svg", "soak-growth.svg"] {
        let svg = std::fs::read_to_string(charts.join(chart)).expect("soak chart");
        assert!(
            svg.contains("smol") && !svg.contains("threads"),
            "only smol soaked: {chart}"
        );
    }
    let recovery = std::fs::read_to_string(charts.join("fault-recovery.svg")).expect("chart");
    assert!(recovery.contains("smol") && recovery.contains("threads"));
}
