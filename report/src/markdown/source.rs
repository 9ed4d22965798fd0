//! What the source says: language features, ease of use, reliance on recent Rust.

use std::fmt::Write as _;

use super::{View, list};
use crate::stats;

fn feature_table(out: &mut String, v: &View<'_>) {
    let Some(source) = &v.run.source else { return };
    let mut names: Vec<&String> = source
        .backends
        .iter()
        .flat_map(|b| b.features.keys())
        .collect();
    names.sort();
    names.dedup();
    let _ = writeln!(
        out,
        "| backend | {} |",
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
    for b in &source.backends {
        let cells: Vec<String> = names
            .iter()
            .map(|n| b.features.get(*n).copied().unwrap_or(0).to_string())
            .collect();
        let _ = writeln!(out, "| {} | {} |", b.backend, cells.join(" | "));
    }
    let _ = writeln!(out, "\nCounts from the shells' source (`source.json`).\n");
}

/// What each runtime's task handle does when dropped, by runtime crate; only the runtimes a
/// run holds are named.
const CANCELLATION: &[(&str, &str)] = &[
    ("tokio", "tokio's `JoinHandle` needs an explicit `abort()`"),
    ("smol", "smol's `Task` cancels when dropped"),
    (
        "async-std",
        "async-std's handle detaches when dropped, so its link code shuts the socket down to stop a writer",
    ),
];

pub(super) fn language(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Language-related issues\n");
    feature_table(out, v);
    let rust: Vec<&herd_records::BackendInfo> = v
        .run
        .meta
        .backends
        .iter()
        .filter(|b| b.language == stats::RECOMMENDED_LANGUAGE)
        .collect();
    let handles: Vec<&str> = CANCELLATION
        .iter()
        .filter(|(krate, _)| {
            rust.iter()
                .any(|b| b.runtime_crates.iter().any(|c| c == krate))
        })
        .map(|(_, what)| *what)
        .collect();
    let shells = match rust.len() {
        0 => "no Rust shell in this run".to_owned(),
        1 => "the one Rust shell of this run".to_owned(),
        n => format!("each of the {n} Rust shells of this run"),
    };
    let _ = writeln!(
        out,
        "- **Ownership and `Send`.** Every shell shares one `Node` between connections, so it sits in an `Arc<Mutex<…>>` in {shells}; a spawned task or thread must own what it touches (`'static`), which is why each connection gets an `Arc` clone. A multi-threaded executor's `spawn` also demands `Send` futures, so holding the (std) mutex guard across an `.await` is a compile error rather than a deadlock: the shells take the lock only for one synchronous call into the core."
    );
    if !handles.is_empty() {
        let _ = writeln!(
            out,
            "- **Cancellation.** Dropping a future cancels it at its next `.await`. The runtimes differ in what a task handle does: {} (see `herd-*/src/link.rs`).",
            list(&handles)
        );
    }
    let _ = writeln!(
        out,
        "- **Blocking in async code.** A blocking call inside a task stalls every task on that worker. The places request is the only slow operation; the async shells make it with the runtime's own sockets and timers, a threaded shell with blocking sockets and per-call timeouts.\n\
         - **Coloured functions.** The protocol core is plain synchronous Rust with no I/O (sans-IO), so the Rust shells all call the very same functions; only the thin shells are `async` or not. That is what keeps the comparison fair, and it is the main design lesson: keep `async` at the edges.\n"
    );
}

pub(super) fn ease(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Ease of use\n");
    let Some(source) = &v.run.source else {
        let _ = writeln!(out, "No `source.json` in this run.\n");
        return;
    };
    let _ = writeln!(
        out,
        "All protocol logic lives in the shared core (`protocol/`, {} lines of code) and the runtime-neutral support crate (`shell/`, {} lines); each backend is a shell of the same four files.\n",
        source.protocol_code_lines, source.shell_code_lines
    );
    let _ = writeln!(
        out,
        "| backend | shell code lines | runtime items used | dependency crates | runtime API |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for b in &source.backends {
        let api: Vec<String> = b.runtime_api.keys().map(|k| format!("`{k}`")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            b.backend,
            b.code_lines,
            b.runtime_api.len(),
            b.dependency_count,
            api.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nFrom the source at the measured revision (`source.json`).\n"
    );
}

pub(super) fn versions(out: &mut String, v: &View<'_>) {
    let _ = writeln!(out, "## Reliance on recent Rust and crate versions\n");
    let Some(source) = &v.run.source else {
        let _ = writeln!(out, "No `source.json` in this run.\n");
        return;
    };
    let _ = writeln!(
        out,
        "| backend | highest `rust-version`, all third-party crates | declared by | same, only crates its runtime adds | declared by | crates in its tree | let chains used (need Rust 1.88) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for b in &source.backends {
        let chains = b
            .features
            .get("let chains (Rust 1.88)")
            .copied()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {chains} |",
            b.backend,
            b.msrv.as_deref().unwrap_or("none declared"),
            b.msrv_set_by.as_deref().unwrap_or("–"),
            b.runtime_msrv.as_deref().unwrap_or("none declared"),
            b.runtime_msrv_set_by.as_deref().unwrap_or("–"),
            b.dependency_count
        );
    }
    let versions: Vec<String> = v
        .run
        .meta
        .crate_versions
        .iter()
        .map(|(k, ver)| format!("{k} {ver}"))
        .collect();
    let _ = writeln!(
        out,
        "\nBuilt with {}; crate versions from `Cargo.lock`: {}. The project's own crates declare `rust-version` 1.88 and use the 2024 edition (Rust 1.85 or later). A toolchain older \
         than a backend's highest `rust-version` cannot build that backend with these versions: getting by with an older Rust means \
         pinning older releases of the crates named above and rewriting any let chains, and the table shows how far each runtime's \
         tree pulls the minimum up (`source.json`, `meta.json`).\n",
        v.run.meta.rustc,
        versions.join(", ")
    );
}
