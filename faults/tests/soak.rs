//! A few seconds of soak against a real herd: every server sampled, growth computed.

use std::time::Duration;

use herd_faults::{Preset, soak, soak_plan};
use herd_launcher::{Profile, build, build_places, default_herd, discover, workspace_root};

#[test]
fn a_short_soak_samples_every_server_and_measures_growth() {
    let root = workspace_root().expect("root");
    let m = discover(&root)
        .expect("manifests")
        .into_iter()
        .find(|m| m.name == "threads")
        .expect("threads backend");
    build(&root, &m, Profile::Dev).expect("build");
    build_places(&root, Profile::Dev).expect("build places");
    let mut plan = soak_plan(Preset::Quick, 3);
    plan.duration = Duration::from_secs(6);
    plan.sample_every = Duration::from_millis(500);
    plan.load.rate = 100.0;
    let topology = default_herd(&root).expect("default herd");
    let servers = topology.servers.len();
    let o = soak::run(&root, &m, Profile::Dev, topology, &plan).expect("soak runs");

    assert!(o.acked > 100, "load ran: {o:?}");
    assert_eq!(o.failed, 0, "every command answered");
    assert_eq!(o.growth.len(), servers);
    assert!(
        o.samples.len() >= servers * 10,
        "{} samples",
        o.samples.len()
    );
    for s in &o.samples {
        assert!(s.rss_kib > 0 && s.fds > 3, "{s:?}");
    }
    // A herd process's memory is megabytes; the window's means come from its samples.
    for g in &o.growth {
        assert!(g.rss_start > 1000.0 && g.rss_end > 1000.0, "{g:?}");
        assert!(g.window_start == Duration::from_secs(2), "{g:?}");
    }
}
