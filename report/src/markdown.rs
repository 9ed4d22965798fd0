//! The report as markdown: a pure function of the run, its statistics and its charts.
//!
//! Every number comes from the run's files and the section it appears in names them. The
//! prose around the numbers explains what they mean; it states no figure of its own, and
//! it decides nothing: every judgement (thresholds, the rule, headroom) is `stats`'s. The
//! sections live in submodules by subject; this file holds the shared view, the formatting
//! helpers and the order of the sections.

mod method;
mod performance;
mod reliability;
mod single;
mod source;
mod verdict;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use herd_records::Scenario;

use crate::charts::Chart;
use crate::load::Run;
use crate::stats::{
    self, Candidate, Evidence, Field, Limit, ScenarioStats, Spread, idle_bytes_per_connection,
    scenario_stats,
};

fn ms(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn spread_ms(s: &Spread) -> String {
    if s.n == 0 {
        "–".into()
    } else {
        format!("{} [{}–{}]", ms(s.median), ms(s.min), ms(s.max))
    }
}

/// CPU time per command.
fn us(us: f64) -> String {
    format!("{us:.0} µs")
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

fn rate(r: f64) -> String {
    if r >= 1_000_000.0 {
        format!("{:.2}M/s", r / 1_000_000.0)
    } else if r >= 10_000.0 {
        format!("{:.1}k/s", r / 1000.0)
    } else {
        format!("{r:.0}/s")
    }
}

/// A sustained rate: not measured, none, or the rate.
fn sustained(r: Option<f64>) -> String {
    match r {
        None => "not measured".into(),
        Some(r) if r <= 0.0 => "none (the first rate already failed)".into(),
        Some(r) => rate(r),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// Everything the markdown needs, computed once.
struct View<'a> {
    run: &'a Run,
    stats: BTreeMap<(String, Scenario), ScenarioStats>,
    sustainable: BTreeMap<String, Limit>,
    idle: BTreeMap<String, (usize, Spread)>,
    candidates: Vec<Candidate>,
    evidence: Vec<Evidence>,
    field: Field,
}

impl View<'_> {
    fn stat(&self, backend: &str, scenario: Scenario) -> Option<&ScenarioStats> {
        self.stats.get(&(backend.to_owned(), scenario))
    }

    fn info(&self, backend: &str) -> Option<&herd_records::BackendInfo> {
        self.run.meta.backends.iter().find(|b| b.name == backend)
    }

    /// The backend's name, with its language when it is only a reference.
    fn name(&self, backend: &str) -> String {
        match self.info(backend) {
            Some(b) if b.language != stats::RECOMMENDED_LANGUAGE => {
                format!("{backend} ({}, reference)", b.language)
            }
            _ => backend.to_owned(),
        }
    }
}

/// The whole report. `chart_dir` is the charts' folder relative to the report file.
pub fn render(run: &Run, charts: &[Chart], chart_dir: &str) -> String {
    let sustainable = stats::sustainable(&run.sustainable, &run.sweep);
    let idle = idle_bytes_per_connection(&run.idle);
    let stats = scenario_stats(&run.summary);
    let candidates = stats::candidates(&run.meta.backends, &sustainable, &idle);
    let evidence: Vec<Evidence> = candidates
        .iter()
        .map(|c| {
            let whatsat = stats.get(&(c.backend.clone(), Scenario::Whatsat));
            Evidence {
                whatsat_p99_us: whatsat.map(|s| s.p99_us.median),
                whatsat_failed: whatsat.map_or(0, |s| s.failed),
                whatsat_sent: whatsat.map_or(0, |s| s.sent),
                code_lines: run.source.as_ref().and_then(|src| {
                    src.backends
                        .iter()
                        .find(|b| b.backend == c.backend)
                        .map(|b| b.code_lines)
                }),
            }
        })
        .collect();
    let field = stats::field(&candidates, &evidence);
    let view = View {
        run,
        stats,
        sustainable,
        idle,
        candidates,
        evidence,
        field,
    };
    let mut out = String::new();
    header(&mut out, &view);
    verdict::recommendation(&mut out, &view);
    method::machine(&mut out, &view);
    chart_section(&mut out, charts, chart_dir);
    verdict::pros_and_cons(&mut out, &view);
    method::problems(&mut out, &view);
    source::language(&mut out, &view);
    source::ease(&mut out, &view);
    performance::performance(&mut out, &view);
    single::single(&mut out, &view);
    reliability::reliability_section(&mut out, &view);
    // Measured Python / Node.js sections when the run has those rows (languages.rs), set
    // against the recommended backend.
    let recommended = match stats::recommend(&view.candidates).0 {
        stats::Recommendation::Winner { winner, .. } => Some(winner.backend.as_str()),
        _ => None,
    };
    if !crate::languages::render(&mut out, run, recommended) {
        node(&mut out, &view);
    }
    source::versions(&mut out, &view);
    reproduce(&mut out, &view);
    out
}

fn header(out: &mut String, v: &View<'_>) {
    let m = &v.run.meta;
    let _ = writeln!(out, "# Which concurrency runtime for a Rust server herd?\n");
    let rust: Vec<&str> = v
        .candidates
        .iter()
        .filter(|c| !c.reference())
        .map(|c| c.backend.as_str())
        .collect();
    let references: Vec<String> = v
        .candidates
        .iter()
        .filter(|c| c.reference())
        .map(|c| format!("{} ({})", c.backend, c.language))
        .collect();
    let _ = writeln!(
        out,
        "Measured answer from herdbench run `{}` ({} preset) at revision `{}`{}. {}{}/`; \
         each table names the file its numbers come from. The question and its sections follow the report \"asyncio for a server herd\", \
         asked here of {}{}.\n",
        m.run_id,
        m.preset,
        &m.git_revision[..m.git_revision.len().min(12)],
        if m.git_dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        crate::GENERATED_FROM,
        m.run_id,
        if rust.is_empty() {
            "no Rust backend".to_owned()
        } else {
            list(&rust)
        },
        if references.is_empty() {
            String::new()
        } else {
            format!(
                ", with {} measured beside them for reference",
                list(&references)
            )
        }
    );
    let selection = stats::selection(&m.command_line);
    if selection.partial() {
        let _ = writeln!(
            out,
            "**A partial run:** it measured only {}{}. Whatever else the sections below would show is marked not measured.\n",
            if selection.backends.is_empty() {
                "every backend".to_owned()
            } else {
                format!("backend {}", list(&selection.backends))
            },
            if selection.scenarios.is_empty() {
                String::new()
            } else {
                format!(", scenario {}", list(&selection.scenarios))
            }
        );
    }
}

fn chart_section(out: &mut String, charts: &[Chart], chart_dir: &str) {
    let _ = writeln!(out, "## Charts\n");
    for c in charts {
        let file = c
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "![{}]({chart_dir}/{file})\n\n*{}* (from {})\n",
            c.title,
            c.title,
            c.sources
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn node(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Compared with Node.js\n");
    let rust = v
        .run
        .meta
        .backends
        .iter()
        .filter(|b| b.language == stats::RECOMMENDED_LANGUAGE);
    let (threaded, pooled): (Vec<_>, Vec<_>) = rust.partition(|b| b.runtime_crates.is_empty());
    let names = |bs: &[&herd_records::BackendInfo]| {
        list(&bs.iter().map(|b| b.name.as_str()).collect::<Vec<_>>())
    };
    let node_measured = v
        .run
        .meta
        .backends
        .iter()
        .any(|b| b.language.contains("Node"));
    let _ = writeln!(
        out,
        "Node.js runs one event loop on one thread per process and makes every socket operation asynchronous; a herd server in Node \
         would look like the event-loop shells here with one worker thread, and would need several processes (or worker threads with \
         message passing) to use more than one core. {} the event-loop model but run it on a pool of \
         threads that share one address space, so a single server uses every core with the same code, at the price of `Send` bounds \
         and explicit locking that Node's single thread never needs. Like Node, the async shells keep thousands of idle connections \
         cheap (see the idle table); {} the thread-per-connection cost that both designs avoid.{}\n",
        match pooled.len() {
            0 => "The Rust async runtimes (none in this run) keep".to_owned(),
            1 => format!("{} keeps", names(&pooled)),
            _ => format!("{} keep", names(&pooled)),
        },
        if threaded.is_empty() {
            "no backend of this run shows".to_owned()
        } else {
            format!("{} shows", names(&threaded))
        },
        if node_measured {
            ""
        } else {
            " This run did not measure Node.js itself."
        }
    );
}

fn reproduce(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Reproduce\n");
    let _ = writeln!(
        out,
        "`scripts/bench-all` runs the whole suite and regenerates this report; `scripts/report` regenerates it from the results on disk. This run's command line:\n"
    );
    let _ = writeln!(out, "```\n{}\n```", v.run.meta.command_line.join(" "));
}
