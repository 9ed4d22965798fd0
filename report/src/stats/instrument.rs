//! What a run can vouch for about itself: whether the load generator was the limit (its
//! headroom over the herds and its overhead against a bare client), the points that were
//! disturbed or failed, where the processes ran, and what the run did not measure.

use herd_records::{CeilingRow, Client, FailureRow, RunMeta, Scenario, SummaryRow, SweepRow};

use crate::load::Run;

/// The load generator must reach this multiple of the best herd rate against the
/// runtime-free responder for the top rates to be the herd's, not the instrument's.
pub const HEADROOM: f64 = 2.0;

/// The load generator must reach this fraction of the bare client's rate in each ceiling
/// shape to count as never the limit.
pub const INSTRUMENT: f64 = 0.90;

/// Whether the load generator had room above the herds, from the strict request/reply rows
/// of `ceiling.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Headroom {
    /// No ceiling measurement in the run.
    NotMeasured,
    /// A ceiling, but no herd rate to set it against: no sweep ran (`swept` false), or none
    /// sustained even its first rate.
    NoHerdRate { ceiling: f64, swept: bool },
    Ratio {
        ceiling: f64,
        best_herd: f64,
        ratio: f64,
        /// At least [`HEADROOM`]: the instrument was not the limit.
        enough: bool,
    },
}

/// The ceiling against the best sustained herd rate; `best_herd` is `None` when no sweep ran
/// and 0 when none sustained anything, and then no ratio is computed.
pub fn headroom(ceiling: &[CeilingRow], best_herd: Option<f64>) -> Headroom {
    let Some(ceiling) = ceiling
        .iter()
        .filter(|c| {
            c.client == Client::Loadgen
                && c.pipeline == 1
                && c.failure.is_none()
                && c.achieved_rate > 0.0
        })
        .map(|c| c.achieved_rate)
        .reduce(f64::max)
    else {
        return Headroom::NotMeasured;
    };
    match best_herd.filter(|b| *b > 0.0) {
        None => Headroom::NoHerdRate {
            ceiling,
            swept: best_herd.is_some(),
        },
        Some(best_herd) => {
            let ratio = ceiling / best_herd;
            Headroom::Ratio {
                ceiling,
                best_herd,
                ratio,
                enough: ratio >= HEADROOM,
            }
        }
    }
}

/// The backends and scenarios a run's command line selected; both empty for a whole run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    pub backends: Vec<String>,
    pub scenarios: Vec<String>,
}

impl Selection {
    /// A run that measured only part of the suite.
    pub fn partial(&self) -> bool {
        !self.backends.is_empty() || !self.scenarios.is_empty()
    }
}

/// Reads `--backend X` / `--backend=X` and `--scenario X` / `--scenario=X` from the command
/// line recorded in `meta.json`.
pub fn selection(command_line: &[String]) -> Selection {
    let mut sel = Selection::default();
    let mut args = command_line.iter();
    while let Some(arg) = args.next() {
        for (flag, into) in [
            ("--backend", &mut sel.backends),
            ("--scenario", &mut sel.scenarios),
        ] {
            if arg == flag {
                into.extend(args.next().cloned());
            } else if let Some(value) = arg.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
                into.push(value.to_owned());
            }
        }
    }
    sel
}

/// A part of the suite a run holds no data for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmeasured {
    Scenario(Scenario),
    Ceiling,
    Source,
}

/// The parts of the suite a run holds no data for, in the suite's order. Disturbed rows
/// count as data here (they are listed as disturbed, not as missing).
pub fn not_measured(run: &Run) -> Vec<Unmeasured> {
    let mut out: Vec<Unmeasured> = Scenario::ALL
        .into_iter()
        .filter(|s| match s {
            Scenario::Propagation => run.propagation.is_empty(),
            Scenario::Idle => run.idle.is_empty(),
            Scenario::Sweep => run.sweep.is_empty() && run.sustainable.is_empty(),
            Scenario::Single => run.single.is_empty(),
            s => !run.summary.iter().any(|r| r.scenario == *s),
        })
        .map(Unmeasured::Scenario)
        .collect();
    if run.ceiling.is_empty() {
        out.push(Unmeasured::Ceiling);
    }
    if run.source.is_none() {
        out.push(Unmeasured::Source);
    }
    out
}

/// One ceiling shape measured by both clients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub connections: usize,
    pub pipeline: usize,
    pub bare: f64,
    pub loadgen: f64,
    /// loadgen / bare.
    pub ratio: f64,
    /// At least [`INSTRUMENT`].
    pub enough: bool,
}

/// The load generator against the bare client, for every shape (connections, pipeline) both
/// measured without a failure, strict request/reply first.
pub fn instrument(ceiling: &[CeilingRow]) -> Vec<Shape> {
    let rate = |client: Client, c: usize, p: usize| {
        ceiling
            .iter()
            .filter(|r| r.client == client && r.connections == c && r.pipeline == p)
            .filter(|r| r.failure.is_none() && r.achieved_rate > 0.0)
            .map(|r| r.achieved_rate)
            .reduce(f64::max)
    };
    let mut shapes: Vec<(usize, usize)> = ceiling
        .iter()
        .map(|r| (r.pipeline, r.connections))
        .collect();
    shapes.sort_unstable();
    shapes.dedup();
    shapes
        .into_iter()
        .filter_map(|(p, c)| {
            let (bare, loadgen) = (rate(Client::Bare, c, p)?, rate(Client::Loadgen, c, p)?);
            let ratio = loadgen / bare;
            Some(Shape {
                connections: c,
                pipeline: p,
                bare,
                loadgen,
                ratio,
                enough: ratio >= INSTRUMENT,
            })
        })
        .collect()
}

/// How much of the search for each backend's limit ran on a disturbed machine.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchDisturbance {
    /// Sweep points still disturbed after their retries, and all sweep points.
    pub disturbed: usize,
    pub points: usize,
    /// The worst steal of a disturbed point, as a fraction of the time.
    pub worst_steal: f64,
}

/// The sweep's disturbance, when any point of it was disturbed: a failure measured under
/// stolen time can set a backend's found limit low, so the verdict is then provisional.
pub fn search_disturbance(sweep: &[SweepRow]) -> Option<SearchDisturbance> {
    let disturbed: Vec<&SweepRow> = sweep.iter().filter(|r| r.disturbed).collect();
    if disturbed.is_empty() {
        return None;
    }
    Some(SearchDisturbance {
        disturbed: disturbed.len(),
        points: sweep.len(),
        worst_steal: disturbed
            .iter()
            .map(|r| r.steal_fraction)
            .fold(0.0, f64::max),
    })
}

/// A measured point that was still disturbed after its retries: listed, never used as data.
#[derive(Debug, Clone, PartialEq)]
pub struct Disturbed {
    pub backend: String,
    pub scenario: Scenario,
    pub target_rate: f64,
    /// The repetition, for a fixed-rate row; `None` for a sweep point (all its repetitions).
    pub repetition: Option<u32>,
    pub loadavg_1m: f64,
    pub steal_fraction: f64,
    pub outside_cpu_cores: f64,
}

/// Every disturbed row of `summary.csv` and `sweep.csv`, in file order.
pub fn disturbed(summary: &[SummaryRow], sweep: &[SweepRow]) -> Vec<Disturbed> {
    let fixed = summary.iter().filter(|r| r.disturbed).map(|r| Disturbed {
        backend: r.backend.clone(),
        scenario: r.scenario,
        target_rate: r.target_rate,
        repetition: Some(r.repetition),
        loadavg_1m: r.loadavg_1m,
        steal_fraction: r.steal_fraction,
        outside_cpu_cores: r.outside_cpu_cores,
    });
    let swept = sweep.iter().filter(|r| r.disturbed).map(|r| Disturbed {
        backend: r.backend.clone(),
        scenario: Scenario::Sweep,
        target_rate: r.target_rate,
        repetition: None,
        loadavg_1m: r.loadavg_1m,
        steal_fraction: r.steal_fraction,
        outside_cpu_cores: r.outside_cpu_cores,
    });
    fixed.chain(swept).collect()
}

/// A measurement that failed after its retries: a point of `failures.csv`, or a ceiling shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    Point(FailureRow),
    Ceiling {
        client: Client,
        connections: usize,
        pipeline: usize,
        reason: String,
    },
}

/// Every failure the run recorded.
pub fn failures(points: &[FailureRow], ceiling: &[CeilingRow]) -> Vec<Failure> {
    points
        .iter()
        .cloned()
        .map(Failure::Point)
        .chain(ceiling.iter().filter_map(|r| {
            Some(Failure::Ceiling {
                client: r.client,
                connections: r.connections,
                pipeline: r.pipeline,
                reason: r.failure.clone()?,
            })
        }))
        .collect()
}

/// Where the load generator and the servers ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Neither was confined: they shared every core.
    Shared,
    /// Confined to CPU sets; `disjoint` when no CPU is in both.
    Pinned {
        loadgen: Vec<usize>,
        servers: Vec<usize>,
        disjoint: bool,
    },
}

/// The CPUs the servers had: those they were pinned to, else the machine's.
pub fn server_cores(meta: &RunMeta) -> usize {
    match meta.server_cpus.len() {
        0 => meta.host.cores,
        n => n,
    }
}

pub fn placement(meta: &RunMeta) -> Placement {
    if meta.loadgen_cpus.is_empty() && meta.server_cpus.is_empty() {
        return Placement::Shared;
    }
    Placement::Pinned {
        loadgen: meta.loadgen_cpus.clone(),
        servers: meta.server_cpus.clone(),
        disjoint: !meta.loadgen_cpus.is_empty()
            && !meta.server_cpus.is_empty()
            && !meta
                .loadgen_cpus
                .iter()
                .any(|c| meta.server_cpus.contains(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_with_disturbed_points_is_flagged_with_its_worst_steal() {
        let point = |disturbed: bool, steal: f64| SweepRow {
            backend: "t".into(),
            scenario: Scenario::Iamat,
            step: 0,
            phase: herd_records::Phase::Ramp,
            target_rate: 1_000.0,
            achieved_rate: 1_000.0,
            p50_us: 1,
            p99_us: 1,
            p99_min_us: 1,
            p99_max_us: 1,
            error_fraction: 0.0,
            sustainable: true,
            server_cpu_us_per_command: 0.0,
            loadgen_cpu_us_per_command: 0.0,
            loadavg_1m: 0.0,
            steal_fraction: steal,
            outside_cpu_cores: 0.0,
            disturbed,
        };
        assert_eq!(search_disturbance(&[]), None);
        assert_eq!(search_disturbance(&[point(false, 0.04)]), None);
        // The quiet point's steal does not count; the worst disturbed one does.
        let sweep = [point(false, 0.5), point(true, 0.2), point(true, 0.3)];
        assert_eq!(
            search_disturbance(&sweep),
            Some(SearchDisturbance {
                disturbed: 2,
                points: 3,
                worst_steal: 0.3
            })
        );
    }

    #[test]
    fn headroom_needs_both_a_ceiling_and_a_herd_rate() {
        let row = |pipeline: usize, rate: f64| ceiling(Client::Loadgen, 16, pipeline, rate, None);
        assert_eq!(headroom(&[], Some(1.0)), Headroom::NotMeasured);
        // Pipelined rows and zero rows are not the strict ceiling.
        assert_eq!(
            headroom(&[row(16, 400_000.0), row(1, 0.0)], Some(1.0)),
            Headroom::NotMeasured
        );
        let rows = [row(1, 60_000.0), row(1, 80_000.0), row(16, 400_000.0)];
        assert_eq!(
            headroom(&rows, None),
            Headroom::NoHerdRate {
                ceiling: 80_000.0,
                swept: false
            }
        );
        assert_eq!(
            headroom(&rows, Some(0.0)),
            Headroom::NoHerdRate {
                ceiling: 80_000.0,
                swept: true
            }
        );
        assert_eq!(
            headroom(&rows, Some(40_000.0)),
            Headroom::Ratio {
                ceiling: 80_000.0,
                best_herd: 40_000.0,
                ratio: 2.0,
                enough: true
            }
        );
        assert!(matches!(
            headroom(&rows, Some(40_001.0)),
            Headroom::Ratio { enough: false, .. }
        ));
    }

    #[test]
    fn a_selection_on_the_command_line_makes_a_partial_run() {
        let line = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let sel = selection(&line(
            "loadgen run --backend tokio --scenario=iamat --backend=smol --full",
        ));
        assert_eq!(sel.backends, ["tokio", "smol"]);
        assert_eq!(sel.scenarios, ["iamat"]);
        assert!(sel.partial());
        assert!(!selection(&line("loadgen run --run-id x --out results/x --full")).partial());
        // A flag at the very end with no value selects nothing.
        assert_eq!(
            selection(&line("loadgen run --backend")),
            Selection::default()
        );
        // `--backends-dir`-like flags are not a selection.
        assert!(!selection(&line("loadgen run --backendx=1")).partial());
    }

    fn ceiling(client: Client, c: usize, p: usize, rate: f64, failure: Option<&str>) -> CeilingRow {
        CeilingRow {
            client,
            connections: c,
            pipeline: p,
            achieved_rate: rate,
            p99_us: None,
            client_cpu_cores: 1.0,
            responder_cpu_cores: 1.0,
            failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn the_instrument_is_set_against_the_bare_client_shape_by_shape() {
        let rows = [
            ceiling(Client::Loadgen, 16, 16, 450_000.0, None),
            ceiling(Client::Bare, 16, 16, 1_000_000.0, None),
            ceiling(Client::Bare, 100, 1, 200_000.0, None),
            ceiling(Client::Loadgen, 100, 1, 180_000.0, None),
            // Measured by one client only, or failed: no ratio.
            ceiling(Client::Bare, 1000, 1, 90_000.0, None),
            ceiling(Client::Loadgen, 1000, 1, 0.0, Some("refused")),
        ];
        let shapes = instrument(&rows);
        assert_eq!(shapes.len(), 2, "{shapes:?}");
        assert_eq!((shapes[0].connections, shapes[0].pipeline), (100, 1));
        assert_eq!(shapes[0].ratio, 0.9);
        assert!(shapes[0].enough, "exactly 90% is enough");
        assert_eq!(shapes[1].ratio, 0.45);
        assert!(!shapes[1].enough);
        // The failed shape is a failure, not a zero.
        assert_eq!(
            failures(&[], &rows),
            vec![Failure::Ceiling {
                client: Client::Loadgen,
                connections: 1000,
                pipeline: 1,
                reason: "refused".into()
            }]
        );
        // The bare client's rate is not the load generator's ceiling.
        assert_eq!(
            headroom(&rows[4..], Some(1.0)),
            Headroom::NotMeasured,
            "bare rows and failures only"
        );
    }

    #[test]
    fn placement_says_whether_the_cores_were_disjoint() {
        let mut meta: RunMeta = serde_json::from_value(serde_json::json!({
            "schema_version": 2, "run_id": "r", "started_unix": 0, "finished_unix": 0,
            "preset": "quick", "git_revision": "x", "git_dirty": false,
            "host": {"hostname": "h", "cpu_model": "c", "cores": 2, "kernel": "k", "memory_bytes": 1},
            "rustc": "r", "crate_versions": {}, "command_line": [], "backends": [],
            "server_logs": false, "loadgen_cpus": [], "server_cpus": [], "places_latency": "0ms",
            "loadgen_threads": 1, "p99_objective_us": 1, "problems": []
        }))
        .expect("meta");
        assert_eq!(placement(&meta), Placement::Shared);
        assert_eq!(server_cores(&meta), 2, "not pinned: the machine's cores");
        meta.loadgen_cpus = vec![1];
        meta.server_cpus = vec![0];
        assert!(matches!(
            placement(&meta),
            Placement::Pinned { disjoint: true, .. }
        ));
        assert_eq!(server_cores(&meta), 1, "pinned: the servers' own");
        meta.server_cpus = vec![0, 1];
        assert!(matches!(
            placement(&meta),
            Placement::Pinned {
                disjoint: false,
                ..
            }
        ));
    }
}
