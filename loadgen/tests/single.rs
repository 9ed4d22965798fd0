//! The single scenario against a real backend (tokio, debug build) and the real ceiling
//! responder: every point of one repetition is measured and recorded, with the shapes,
//! log settings and rates the report reads, and the five-server herd's closed-loop point.

use std::time::Duration;

use herd_launcher::{Profile, build, build_places, discover, workspace_root};
use herd_records::{SINGLE_FILE, Scenario, Server, Shape, SingleRow, read_csv};
use loadgen::placement::Placement;
use loadgen::search::Bounds;
use loadgen::single::{self, Timing};
use loadgen::suite::{Settings, Suite};

fn settings(root: std::path::PathBuf, out: std::path::PathBuf) -> Settings {
    let tokio = discover(&root)
        .expect("manifests")
        .into_iter()
        .find(|m| m.name == "tokio")
        .expect("the tokio manifest");
    Settings {
        root,
        out,
        run_id: "single-test".into(),
        preset: "quick".into(),
        backends: vec![tokio],
        scenarios: vec![Scenario::Single],
        profile: Profile::Dev,
        herd_threads: 1,
        loadgen_threads: 1,
        reps: 1,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(300),
        connections: 8,
        pipeline: 1,
        iamat_rate: 500.0,
        whatsat_rate: 100.0,
        whatsat_connections: 8,
        mixed_iamat_percent: 80,
        churn_rate: 100.0,
        places_latency: "0".into(),
        p99_objective: Duration::from_millis(10),
        search: Bounds {
            start: 1_000.0,
            factor: 2.0,
            precision: 0.1,
            max_rate: 2_000.0,
            min_rate: 500.0,
            max_points: 2,
        },
        search_reps: 1,
        confirm_reps: 1,
        confirm_rounds: 1,
        scenario_attempts: 1,
        disturbed_retries: 0,
        sweep_disturbed_retries: 0,
        placement: Placement::none(),
        crate_names: vec![],
        idle_reps: 1,
        idle_counts: vec![],
        propagation_samples: 1,
        server_logs: true,
        command_line: vec!["test".into()],
    }
}

#[test]
fn one_repetition_measures_the_ceiling_and_the_server_with_its_log_off_and_on() {
    let root = workspace_root().expect("workspace root");
    let out = tempfile::tempdir().expect("tempdir");
    let s = settings(root.clone(), out.path().to_path_buf());
    build(&root, &s.backends[0], Profile::Dev).expect("building herd-tokio");
    build_places(&root, Profile::Dev).expect("building the places service");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "-p", "ceiling"])
        .current_dir(&root)
        .status()
        .expect("cargo");
    assert!(status.success(), "building the ceiling responder");
    let backend = s.backends[0].clone();
    let mut suite = Suite::new(s).expect("suite");
    let timing = Timing {
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(300),
        reps: 1,
    };
    single::run_with(&mut suite, &backend, timing).expect("the scenario runs");
    let rows = suite.tables.single.clone();
    let kinds: Vec<(Server, Shape, bool)> =
        rows.iter().map(|r| (r.server, r.shape, r.logs)).collect();
    assert_eq!(
        kinds,
        [
            (Server::Ceiling, Shape::Strict, false),
            (Server::Backend, Shape::Strict, false),
            (Server::Backend, Shape::Strict, true),
            (Server::Ceiling, Shape::Pipelined, false),
            (Server::Backend, Shape::Pipelined, false),
            (Server::Backend, Shape::Pipelined, true),
            (Server::Backend, Shape::Paced, true),
            (Server::Herd, Shape::Strict, true),
        ]
    );
    for r in &rows {
        assert_eq!((r.backend.as_str(), r.repetition), ("tokio", 0), "{r:?}");
        assert!(r.achieved_rate > 0.0 && r.failed == 0, "{r:?}");
        let (connections, pipeline, target) = match r.shape {
            Shape::Strict => (100, 1, 0.0),
            Shape::Pipelined => (16, 16, 0.0),
            Shape::Paced => (8, 1, 500.0),
        };
        assert_eq!(
            (r.connections, r.pipeline, r.target_rate),
            (connections, pipeline, target),
            "{r:?}"
        );
        if r.server != Server::Ceiling {
            assert!(r.server_cpu_us_per_command > 0.0, "CPU measured: {r:?}");
        }
    }
    // The scenario's rows are what single.csv holds.
    suite.tables.write(out.path()).expect("tables");
    let back: Vec<SingleRow> = read_csv(&out.path().join(SINGLE_FILE)).expect("single.csv");
    assert_eq!(back, rows);
}
