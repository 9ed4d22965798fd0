//! The checker against real herds: a healthy herd loses nothing through partitions and
//! kills under load (every backend), and a herd without anti-entropy is caught losing
//! updates (proof that the checker can fail).

use std::time::Duration;

use herd_faults::scenario::{self, Outcome, Plan, Scenario};
use herd_faults::{fault_load, plan};
use herd_launcher::{Manifest, Profile, build, default_herd, discover, workspace_root};

fn short(scenario: Scenario, anti_entropy: bool, deadline: Duration) -> Plan {
    let mut p = plan(herd_faults::Preset::Quick, scenario, 7);
    p.cycles = 1;
    p.hold = Duration::from_millis(700);
    p.settle = Duration::from_millis(300);
    p.deadline = deadline;
    p.anti_entropy = anti_entropy;
    p.load = fault_load(7);
    p
}

fn run(m: &Manifest, scenario: Scenario, p: &Plan) -> Outcome {
    let root = workspace_root().expect("root");
    build(&root, m, Profile::Dev).expect("build");
    let topology = default_herd(&root).expect("default herd");
    scenario::run(&root, m, Profile::Dev, topology, scenario, p).expect("scenario runs")
}

fn backends() -> Vec<Manifest> {
    discover(&workspace_root().expect("root")).expect("manifests")
}

#[test]
fn a_healthy_herd_loses_no_update_through_a_partition() {
    for m in backends() {
        let scenario = Scenario::Partition;
        let o = run(
            &m,
            scenario,
            &short(scenario, true, Duration::from_secs(10)),
        );
        let what = format!("{} {}: {:?}", m.name, scenario.name(), o.cycles);
        assert_eq!(o.faults(), 1, "{what}");
        // The load really ran: acknowledged updates were there to lose.
        assert!(o.acked > 50, "{what}: only {} acked", o.acked);
        assert_eq!(o.tally().lost, 0, "{what}");
        assert_eq!(o.tally().stale, 0, "{what}");
        assert!(o.cycles[0].recovered.is_some(), "{what}");
    }
}

/// Every server of the herd is killed in turn (five `kill -9`s per backend) under three
/// times the default load. A server acknowledges a new location only once its floods are
/// written to every link that is up, so an update the killed server acknowledged is
/// already at a neighbour: not one may be lost. The reference herds in Python and Node
/// follow the same rule (docs/PROTOCOL.md, "Acknowledging an update"), so no backend is
/// allowed a loss.
#[test]
fn a_kill_loses_no_acknowledged_update() {
    let servers = 5;
    for m in backends() {
        let scenario = Scenario::Failover;
        let mut p = short(scenario, true, Duration::from_secs(10));
        p.cycles = servers;
        p.load.rate = 600.0;
        let o = run(&m, scenario, &p);
        let what = format!("{} {}: {:?}", m.name, scenario.name(), o.cycles);
        assert_eq!(o.faults(), servers, "{what}");
        assert!(
            o.acked > 50 * servers as u64,
            "{what}: only {} acked",
            o.acked
        );
        assert_eq!(o.tally().lost, 0, "{what}");
        assert_eq!(o.tally().stale, 0, "{what}");
        assert!(o.cycles.iter().all(|c| c.recovered.is_some()), "{what}");
    }
}

#[test]
fn without_anti_entropy_the_checker_reports_lost_updates() {
    let m = backends()
        .into_iter()
        .find(|m| m.name == "tokio")
        .expect("tokio backend");
    for scenario in [Scenario::Partition, Scenario::Failover] {
        let o = run(
            &m,
            scenario,
            &short(scenario, false, Duration::from_secs(3)),
        );
        let what = format!("{}: {:?}", scenario.name(), o.cycles);
        assert!(o.tally().lost > 0, "{what}");
        assert!(o.tally().stale >= o.tally().lost, "{what}");
        assert_eq!(o.cycles[0].recovered, None, "{what}");
    }
}
