//! Open-loop pacing costs the load generator (almost) nothing while it waits.
//!
//! Alone in its own test binary: it compares this process's CPU time with wall time, and
//! other tests running beside it would add theirs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::driver::{Plan, run};
use loadgen::schedule::{Schedule, Stop};
use loadgen::{procfs, workload};

#[test]
fn open_loop_pacing_sleeps_instead_of_spinning() {
    // 200 commands/s leaves 5 ms between sends. A loop that spins the last millisecond
    // before each send burns about 20% of a core; one woken by a timer, a few percent.
    // CPU time (not wall time) is compared, so a busy machine does not make this flaky.
    let plan = Plan {
        targets: vec![common::responder()],
        connections: 4,
        pipeline: 1,
        schedule: Schedule::Open { rate: 200.0 },
        warmup: Duration::from_millis(200),
        stop: Stop::After(Duration::from_secs(2)),
        drain: Duration::from_secs(1),
        churn: false,
        threads: 1,
        workload: Arc::new(workload::iamat),
    };
    let before = procfs::own_cpu();
    let started = Instant::now();
    let o = run(&plan).expect("run");
    let share =
        procfs::own_cpu().saturating_sub(before).as_secs_f64() / started.elapsed().as_secs_f64();
    assert!(o.ok > 300 && o.ok == o.sent, "{o:?}");
    assert!(share < 0.08, "the load generator used {share:.3} of a core");
    // The timer still sends on time: most commands leave within a millisecond.
    assert!(
        o.send_lag.value_at_quantile(0.5) < 1_000,
        "median send lag {} us",
        o.send_lag.value_at_quantile(0.5)
    );
}
