//! The "Python asyncio" and "Compared with Node.js" sections, from in-memory runs built with
//! the row builders the fixture report uses (tests/common).

use herd_records::*;
use report::languages::{figures, reference, render};
use report::load::Run;

mod common;
use common::*;

/// (name, language, sustained rate, CPU us per command in `mixed`, idle bytes per connection)
type Backend = (&'static str, &'static str, f64, f64, f64);

fn run(backends: &[Backend]) -> Run {
    let mut summary_rows = Vec::new();
    let mut sweep_rows = Vec::new();
    let mut idle = Vec::new();
    let mut propagation = Vec::new();
    for &(name, _, best, cpu, idle_bytes) in backends {
        summary_rows.push(SummaryRow {
            server_cpu_us_per_command: cpu / 2.0,
            ..summary(name, Scenario::Iamat, 0, 900)
        });
        summary_rows.push(SummaryRow {
            server_cpu_us_per_command: cpu,
            ..summary(name, Scenario::Mixed, 0, 4_000)
        });
        sweep_rows.extend(sweep(
            name,
            &[(best / 2.0, true), (best, true), (best * 2.0, false)],
        ));
        for connections in [100, 1000] {
            idle.push(IdleRow {
                backend: name.into(),
                connections,
                repetition: 0,
                rss_before_bytes: 0,
                rss_after_bytes: 0,
                bytes_per_connection: idle_bytes * connections as f64 / 1000.0,
                threads_after: 1,
            });
        }
        for hops in [1, 3] {
            propagation.push(PropagationRow {
                backend: name.into(),
                hops,
                samples: 10,
                p50_us: 300 * hops as u64,
                p99_us: 900 * hops as u64,
                max_us: 0,
            });
        }
    }
    Run {
        dir: std::path::PathBuf::new(),
        meta: meta(
            backends
                .iter()
                .map(|b| backend(b.0, b.1, "maintained"))
                .collect(),
        ),
        summary: summary_rows,
        timeline: vec![],
        sweep: sweep_rows,
        propagation,
        idle,
        ceiling: vec![],
        sustainable: vec![],
        failures: vec![],
        single: vec![],
        reliability: Default::default(),
        source: None,
        spectra: vec![],
    }
}

const FIVE: &[Backend] = &[
    ("tokio", "Rust", 32_000.0, 40.0, 4096.0),
    ("smol", "Rust", 16_000.0, 50.0, 2048.0),
    ("asyncio", "Python", 4_000.0, 400.0, 10_240.0),
    ("uvloop", "Python", 6_000.0, 300.0, 8_192.0),
    ("node", "JavaScript", 8_000.0, 200.0, 20_480.0),
];

#[test]
fn figures_come_from_the_rows_of_each_backend() {
    let all = figures(&run(FIVE));
    let asyncio = all.iter().find(|f| f.backend == "asyncio").expect("row");
    assert_eq!(asyncio.sustainable_rate, 4_000.0);
    assert_eq!(asyncio.sustainable_p99_us, 2_000);
    assert_eq!(asyncio.scenario.as_deref(), Some("mixed"));
    assert_eq!(asyncio.cpu_ms_per_1000, 400.0);
    assert_eq!(asyncio.idle_bytes, Some(10_240.0));
    assert_eq!(asyncio.propagation, Some((3, 900, 2_700)));
}

#[test]
fn the_reference_is_the_recommended_backend_not_the_fastest() {
    let all = figures(&run(FIVE));
    let name = |f: Option<&report::languages::Figures>| f.map(|f| f.backend.clone());
    assert_eq!(name(reference(&all, Some("smol"))), Some("smol".into()));
    // No recommendation (or one absent from the rows): the fastest Rust backend.
    assert_eq!(name(reference(&all, None)), Some("tokio".into()));
    assert_eq!(name(reference(&all, Some("gone"))), Some("tokio".into()));
    let mut out = String::new();
    render(&mut out, &run(FIVE), Some("smol"));
    assert!(
        out.contains("- **asyncio** sustained 4000/s, 0.2× the rate of smol (16.0k/s);"),
        "{out}"
    );
    assert!(!out.contains("the rate of tokio"), "{out}");
}

#[test]
fn sections_cite_the_measured_figures() {
    let mut out = String::new();
    assert!(render(&mut out, &run(FIVE), Some("tokio")));
    let python = &out[out.find("## Python asyncio").expect("python")..];
    let node = &out[out.find("## Compared with Node.js").expect("node")..];
    assert!(python.contains(
        "- **asyncio** sustained 4000/s, 0.1× the rate of tokio (32.0k/s); spent 400 ms of CPU per 1,000 \
         commands against 40 ms (10.0×); held 10.0 KiB per idle connection against 4.0 KiB (2.5×)."
    ));
    assert!(python.contains("**uvloop** sustained 1.5× the rate it did on **asyncio**"));
    assert!(node.contains("- **node** sustained 8000/s, 0.2× the rate of tokio (32.0k/s);"));
    assert!(node.contains("- **node** sustained 8000/s, 1.3× the rate of uvloop (6000/s);"));
    assert!(out.contains("| 0.90 ms / 2.70 ms (3 hops) |"));
    assert!(out.contains("chooses among the Rust runtimes only"));
}

#[test]
fn a_run_without_them_adds_nothing() {
    let mut out = String::new();
    assert!(!render(&mut out, &run(&FIVE[..2]), Some("tokio")));
    assert!(out.is_empty());
    let mut no_sweep = run(&FIVE[..4]);
    no_sweep.sweep.clear();
    let mut out = String::new();
    assert!(!render(&mut out, &no_sweep, None), "no Node.js rows");
    assert!(out.contains("- **asyncio** had no sustained sweep rate to set against tokio's"));
    assert!(!out.contains("The same Python code on"));
    assert!(out.contains("## Python asyncio") && !out.contains("Node.js ("));
}
