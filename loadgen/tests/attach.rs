//! `loadgen attach` prints the summary record a run writes, not a format of its own.

mod common;

use std::process::Command;

use herd_records::{Scenario, SummaryRow};

#[test]
fn attach_prints_a_summary_record() {
    let addr = common::responder();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["attach", "--addr", &addr.to_string(), "--rate", "300"])
        .args(["--seconds", "1", "--connections", "3", "--backend", "mine"])
        .output()
        .expect("loadgen attach");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row: SummaryRow = serde_json::from_slice(&out.stdout).expect("a SummaryRow as JSON");
    assert_eq!(
        (row.backend.as_str(), row.scenario),
        ("mine", Scenario::Iamat)
    );
    assert_eq!((row.target_rate, row.connections), (300.0, 3));
    assert_eq!(row.sent, row.ok + row.wrong + row.errors + row.timeouts);
    assert!(row.ok > 200, "{row:?}");
    assert!(row.loadgen_cpu_us_per_command > 0.0, "{row:?}");
    assert!(row.loadavg_1m >= 0.0 && row.outside_cpu_cores >= 0.0);
}
