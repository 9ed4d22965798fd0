//! The reference herds in other languages: the "Python asyncio" and "Compared with Node.js"
//! sections, written from the rows the run measured for those backends.
//!
//! A backend counts as Python or Node.js by its manifest's `language` (recorded in
//! `meta.json`), never by name. [`figures`] gathers, per backend, the numbers the sections
//! cite (pure and unit-tested); [`render`] only prints them and the comparisons they imply.
//! The recommendation itself is not made here: it keeps choosing among the Rust runtimes.

use std::fmt::Write as _;

use crate::load::Run;
use herd_records::Scenario;

use crate::stats::{idle_bytes_per_connection, scenario_stats, sustainable};

/// The fixed-rate scenario whose latency and CPU the sections quote, when it was run.
const QUOTED_SCENARIO: Scenario = Scenario::Mixed;
const PYTHON: &str = "Python";
const JAVASCRIPT: &str = "JavaScript";
const RUST: &str = "Rust";

/// What one backend measured, as the language sections quote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub backend: String,
    pub language: String,
    /// Highest sweep rate sustained (0 if none), and its p99.
    pub sustainable_rate: f64,
    pub sustainable_p99_us: u64,
    /// The quoted fixed-rate scenario: its name, median p50 and p99, CPU ms per 1,000.
    pub scenario: Option<String>,
    pub p50_us: f64,
    pub p99_us: f64,
    pub cpu_ms_per_1000: f64,
    /// Resident bytes per idle connection at the largest count measured (median).
    pub idle_bytes: Option<f64>,
    /// Propagation at the most hops measured: (hops, p50, p99).
    pub propagation: Option<(usize, u64, u64)>,
}

/// Figures for every backend of the run, in the run's order.
pub fn figures(run: &Run) -> Vec<Figures> {
    let limits = sustainable(&run.sustainable, &run.sweep);
    let idle = idle_bytes_per_connection(&run.idle);
    let stats = scenario_stats(&run.summary);
    run.meta
        .backends
        .iter()
        .map(|b| {
            let mine: Vec<_> = stats.iter().filter(|((n, _), _)| *n == b.name).collect();
            let quoted = mine
                .iter()
                .find(|((_, s), _)| *s == QUOTED_SCENARIO)
                .or_else(|| mine.first());
            let (rate, p99) = limits.get(&b.name).map_or((0.0, 0), |l| (l.rate, l.p99_us));
            Figures {
                backend: b.name.clone(),
                language: b.language.clone(),
                sustainable_rate: rate,
                sustainable_p99_us: p99,
                scenario: quoted.map(|((_, s), _)| s.to_string()),
                p50_us: quoted.map_or(0.0, |(_, s)| s.p50_us.median),
                p99_us: quoted.map_or(0.0, |(_, s)| s.p99_us.median),
                // Microseconds per command are milliseconds per 1,000 commands.
                cpu_ms_per_1000: quoted.map_or(0.0, |(_, s)| s.cpu_us_per_command.median),
                idle_bytes: idle.get(&b.name).map(|(_, s)| s.median),
                propagation: run
                    .propagation
                    .iter()
                    .filter(|r| r.backend == b.name)
                    .max_by_key(|r| r.hops)
                    .map(|r| (r.hops, r.p50_us, r.p99_us)),
            }
        })
        .collect()
}

/// The backend in `language` with the highest sustained rate (the first of equals), if any.
fn fastest<'a>(all: &'a [Figures], language: &str) -> Option<&'a Figures> {
    all.iter()
        .filter(|f| f.language == language)
        .fold(None, |best: Option<&Figures>, f| match best {
            Some(b) if b.sustainable_rate >= f.sustainable_rate => Some(b),
            _ => Some(f),
        })
}

/// The Rust backend with the highest sustained rate, if any.
pub fn best_rust(all: &[Figures]) -> Option<&Figures> {
    fastest(all, RUST)
}

/// `a / b` as "2.5×", or "–" when `b` is not positive.
fn times(a: f64, b: f64) -> String {
    if b > 0.0 && a > 0.0 {
        format!("{:.1}×", a / b)
    } else {
        "–".into()
    }
}

fn rate(r: f64) -> String {
    if r <= 0.0 {
        "none sustained".into()
    } else if r >= 10_000.0 {
        format!("{:.1}k/s", r / 1000.0)
    } else {
        format!("{r:.0}/s")
    }
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

fn kib(bytes: Option<f64>) -> String {
    bytes.map_or("–".into(), |b| format!("{:.1} KiB", b / 1024.0))
}

fn table(out: &mut String, rows: &[&Figures]) {
    let _ = writeln!(
        out,
        "| backend | language | sustained (sweep) | p99 there | scenario | p50 | p99 | CPU per 1,000 | per idle connection | propagation p50 / p99 |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for f in rows {
        let prop = f.propagation.map_or("–".into(), |(hops, p50, p99)| {
            format!("{} / {} ({hops} hops)", ms(p50 as f64), ms(p99 as f64))
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} ms | {} | {prop} |",
            f.backend,
            f.language,
            rate(f.sustainable_rate),
            if f.sustainable_rate > 0.0 {
                ms(f.sustainable_p99_us as f64)
            } else {
                "–".into()
            },
            f.scenario.as_deref().unwrap_or("–"),
            ms(f.p50_us),
            ms(f.p99_us),
            f.cpu_ms_per_1000,
            kib(f.idle_bytes),
        );
    }
    let _ = writeln!(
        out,
        "\nSustained: the highest sweep rate within the p99 objective (`sweep.csv`); p50, p99 and CPU: median over \
         repetitions of the named scenario (`summary.csv`); idle: resident bytes per connection at the largest count \
         (`idle.csv`); propagation: the most hops measured (`propagation.csv`).\n"
    );
}

/// One line comparing `f` with the reference backend `r`, from whichever figures both have.
fn against(out: &mut String, f: &Figures, r: &Figures) {
    let mut parts = Vec::new();
    if f.sustainable_rate > 0.0 && r.sustainable_rate > 0.0 {
        parts.push(format!(
            "sustained {}, {} the rate of {} ({})",
            rate(f.sustainable_rate),
            times(f.sustainable_rate, r.sustainable_rate),
            r.backend,
            rate(r.sustainable_rate)
        ));
    } else {
        parts.push(format!(
            "had no sustained sweep rate to set against {}'s (the sweep was not run, or its first step failed)",
            r.backend
        ));
    }
    if f.cpu_ms_per_1000 > 0.0 && r.cpu_ms_per_1000 > 0.0 {
        parts.push(format!(
            "spent {:.0} ms of CPU per 1,000 commands against {:.0} ms ({})",
            f.cpu_ms_per_1000,
            r.cpu_ms_per_1000,
            times(f.cpu_ms_per_1000, r.cpu_ms_per_1000)
        ));
    }
    if let (Some(a), Some(b)) = (f.idle_bytes, r.idle_bytes) {
        parts.push(format!(
            "held {} per idle connection against {} ({})",
            kib(Some(a)),
            kib(Some(b)),
            times(a, b)
        ));
    }
    let _ = writeln!(out, "- **{}** {}.", f.backend, parts.join("; "));
}

fn python(out: &mut String, all: &[Figures]) {
    let py: Vec<&Figures> = all.iter().filter(|f| f.language == PYTHON).collect();
    if py.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Python asyncio\n");
    let _ = writeln!(
        out,
        "The herd written again in Python ({}), passing the same conformance suite, measured by the same load in the \
         same run:\n",
        py.iter()
            .map(|f| f.backend.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut rows = py.clone();
    rows.extend(best_rust(all));
    table(out, &rows);
    if let Some(r) = best_rust(all) {
        for f in &py {
            against(out, f, r);
        }
    }
    if let [a, b] = py.as_slice()
        && a.sustainable_rate > 0.0
        && b.sustainable_rate > 0.0
    {
        let (slow, fast) = if a.sustainable_rate <= b.sustainable_rate {
            (a, b)
        } else {
            (b, a)
        };
        let _ = writeln!(
            out,
            "- The same Python code on **{}** sustained {} the rate it did on **{}** ({} against {}).",
            fast.backend,
            times(fast.sustainable_rate, slow.sustainable_rate),
            slow.backend,
            rate(fast.sustainable_rate),
            rate(slow.sustainable_rate),
        );
    }
    let _ = writeln!(
        out,
        "\nA Python server is one process on one event loop, so one server uses at most one core whatever the \
         machine has; the Rust runtimes run the same herd on every core of one process. For a team the rows price \
         the choice: the rate column is how much more hardware (processes) the same load needs in Python, the idle \
         column how much memory each waiting client costs.\n"
    );
}

fn node(out: &mut String, all: &[Figures]) -> bool {
    let js: Vec<&Figures> = all.iter().filter(|f| f.language == JAVASCRIPT).collect();
    if js.is_empty() {
        return false;
    }
    let _ = writeln!(out, "## Compared with Node.js\n");
    let _ = writeln!(
        out,
        "The herd in Node.js ({}), one process and one event loop per server like the Python one, measured in this \
         run:\n",
        js.iter()
            .map(|f| f.backend.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut rows = js.clone();
    rows.extend(all.iter().filter(|f| f.language == PYTHON));
    rows.extend(best_rust(all));
    table(out, &rows);
    let best_python = fastest(all, PYTHON);
    for f in &js {
        if let Some(r) = best_rust(all) {
            against(out, f, r);
        }
        if let Some(p) = best_python {
            against(out, f, p);
        }
    }
    let _ = writeln!(
        out,
        "\nNode.js and Python share the design (one thread per server process, every socket asynchronous, no locks); \
         the difference between their rows is the interpreter and its I/O layer. The Rust runtimes keep that \
         event-loop model but spread it over a pool of threads in one address space, at the price of `Send` bounds \
         and explicit locking.\n"
    );
    true
}

/// Writes the "Python asyncio" and "Compared with Node.js" sections for whichever of those
/// languages the run measured. Returns whether it wrote the Node.js one, so the caller can
/// keep its own text for runs without Node.js rows.
pub fn render(out: &mut String, run: &Run) -> bool {
    let all = figures(run);
    python(out, &all);
    let wrote_node = node(out, &all);
    if wrote_node || all.iter().any(|f| f.language == PYTHON) {
        let _ = writeln!(
            out,
            "The recommendation above chooses among the Rust runtimes only; these rows say what a team would give up \
             (or gain) by writing the herd in Python or Node.js instead.\n"
        );
    }
    wrote_node
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use herd_records::*;

    use super::*;

    fn info(name: &str, language: &str) -> BackendInfo {
        BackendInfo {
            name: name.into(),
            language: language.into(),
            runtime: String::new(),
            runtime_crates: vec![],
            threads: 1,
            threads_meaning: String::new(),
            maintenance_status: "maintained".into(),
            maintenance_since: None,
            maintenance_advisory: None,
            maintenance_note: None,
        }
    }

    fn summary(backend: &str, scenario: Scenario, p99: u64, cpu: f64) -> SummaryRow {
        SummaryRow {
            backend: backend.into(),
            scenario,
            repetition: 0,
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
            p99_us: p99,
            p999_us: p99 * 2,
            max_us: p99 * 3,
            mean_us: p99 as f64 / 3.0,
            server_cpu_us_per_command: cpu,
            loadgen_cpu_us_per_command: 5.0,
            server_cpu_cores: 0.1,
            peak_rss_sum_bytes: 50 << 20,
            peak_rss_max_bytes: 10 << 20,
            server_threads: 1,
            loadgen_cpu_cores: 0.3,
            loadgen_bound: false,
            loadavg_1m: 0.5,
            steal_fraction: 0.0,
            outside_cpu_cores: 0.0,
            disturbed: false,
        }
    }

    fn sweep(backend: &str, best: f64) -> Vec<SweepRow> {
        [(best / 2.0, true), (best, true), (best * 2.0, false)]
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
                p99_us: if ok { 2_000 + i as u64 } else { 50_000 },
                p99_min_us: 0,
                p99_max_us: 0,
                error_fraction: 0.0,
                sustainable: ok,
                server_cpu_us_per_command: 40.0,
                loadgen_cpu_us_per_command: 5.0,
                loadavg_1m: 0.5,
                steal_fraction: 0.0,
                outside_cpu_cores: 0.0,
                disturbed: false,
            })
            .collect()
    }

    fn run(backends: &[(&str, &str, f64, f64, f64)]) -> Run {
        let meta = RunMeta {
            schema_version: SCHEMA_VERSION,
            run_id: "t".into(),
            started_unix: 0,
            finished_unix: 0,
            preset: "quick".into(),
            git_revision: String::new(),
            git_dirty: false,
            host: Host {
                hostname: String::new(),
                cpu_model: String::new(),
                cores: 2,
                kernel: String::new(),
                memory_bytes: 0,
            },
            rustc: String::new(),
            crate_versions: BTreeMap::new(),
            command_line: vec![],
            backends: backends.iter().map(|b| info(b.0, b.1)).collect(),
            server_logs: false,
            loadgen_cpus: vec![0],
            server_cpus: vec![1],
            places_latency: "0".into(),
            loadgen_threads: 1,
            p99_objective_us: 10_000,
            problems: vec![],
        };
        let mut summary_rows = Vec::new();
        let mut sweep_rows = Vec::new();
        let mut idle = Vec::new();
        let mut propagation = Vec::new();
        for &(name, _, best, cpu, idle_bytes) in backends {
            summary_rows.push(summary(name, Scenario::Iamat, 900, cpu / 2.0));
            summary_rows.push(summary(name, Scenario::Mixed, 4_000, cpu));
            sweep_rows.extend(sweep(name, best));
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
            meta,
            summary: summary_rows,
            timeline: vec![],
            sweep: sweep_rows,
            propagation,
            idle,
            ceiling: vec![],
            sustainable: vec![],
            failures: vec![],
            source: None,
            reliability: Default::default(),
            spectra: vec![],
        }
    }

    const SEVEN: &[(&str, &str, f64, f64, f64)] = &[
        ("tokio", "Rust", 32_000.0, 40.0, 4096.0),
        ("smol", "Rust", 16_000.0, 50.0, 2048.0),
        ("asyncio", "Python", 4_000.0, 400.0, 10_240.0),
        ("uvloop", "Python", 6_000.0, 300.0, 8_192.0),
        ("node", "JavaScript", 8_000.0, 200.0, 20_480.0),
    ];

    #[test]
    fn figures_come_from_the_rows_of_each_backend() {
        let all = figures(&run(SEVEN));
        let asyncio = all.iter().find(|f| f.backend == "asyncio").expect("row");
        assert_eq!(asyncio.sustainable_rate, 4_000.0);
        assert_eq!(asyncio.sustainable_p99_us, 2_001);
        assert_eq!(asyncio.scenario.as_deref(), Some("mixed"));
        assert_eq!(asyncio.cpu_ms_per_1000, 400.0);
        assert_eq!(asyncio.idle_bytes, Some(10_240.0));
        assert_eq!(asyncio.propagation, Some((3, 900, 2_700)));
        assert_eq!(best_rust(&all).map(|f| f.backend.as_str()), Some("tokio"));
    }

    #[test]
    fn sections_cite_the_measured_figures() {
        let mut out = String::new();
        assert!(render(&mut out, &run(SEVEN)));
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
        assert!(!render(&mut out, &run(&SEVEN[..2])));
        assert!(out.is_empty());
        let mut no_sweep = run(&SEVEN[..4]);
        no_sweep.sweep.clear();
        let mut out = String::new();
        assert!(!render(&mut out, &no_sweep), "no Node.js rows");
        assert!(out.contains("- **asyncio** had no sustained sweep rate to set against tokio's"));
        assert!(!out.contains("The same Python code on"));
        assert!(out.contains("## Python asyncio") && !out.contains("Node.js ("));
    }
}
