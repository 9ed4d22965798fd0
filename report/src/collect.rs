//! Facts about the code itself, recorded into a run so the report never has to guess them:
//! code size of each crate, which runtime items each shell uses, counts of the language
//! features the report discusses, and the highest `rust-version` in each backend's
//! dependency tree (from `cargo metadata`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use herd_records::{BackendInfo, BackendSource, SourceFacts};
use serde_json::Value;

/// Non-blank lines that are not only a comment, over every `.rs` file below `dir`.
pub fn code_lines(dir: &Path) -> usize {
    rust_files(dir)
        .iter()
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("//"))
                .count()
        })
        .sum()
}

fn rust_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    out
}

/// What a backend with no runtime crates runs on: the standard library's threads, channels
/// and blocking sockets.
pub const STD_RUNTIME: &[&str] = &["std::thread", "std::sync::mpsc", "std::net"];

/// The path roots whose items count as a backend's runtime API: its manifest's
/// `runtime_crates` as Rust names (`async-std` is `async_std`), or [`STD_RUNTIME`] when it
/// lists none.
pub fn runtime_roots(runtime_crates: &[String]) -> Vec<String> {
    if runtime_crates.is_empty() {
        return STD_RUNTIME.iter().map(|r| (*r).to_owned()).collect();
    }
    runtime_crates.iter().map(|c| c.replace('-', "_")).collect()
}

/// Paths under `roots` used in `text` (`use` lines expanded one brace level, and inline
/// paths), with counts.
pub fn runtime_api(text: &str, roots: &[String]) -> BTreeMap<String, usize> {
    // A root names a whole path segment: `tokio` is not a prefix of `tokio_util`.
    let under = |p: &str| {
        roots.iter().any(|r| {
            p.strip_prefix(r.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
    };
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(path) = line.strip_prefix("use ").map(|p| p.trim_end_matches(';')) {
            let expanded: Vec<String> = match path.split_once('{') {
                Some((prefix, rest)) => rest
                    .trim_end_matches('}')
                    .split(',')
                    .map(|item| format!("{prefix}{}", item.trim()))
                    .collect(),
                None => vec![path.to_owned()],
            };
            for p in expanded.into_iter().filter(|p| under(p)) {
                *found.entry(p).or_default() += 1;
            }
            continue;
        }
        if line.starts_with("//") {
            continue;
        }
        for root in roots {
            let root = format!("{root}::");
            let mut rest = line;
            while let Some(at) = rest.find(&root) {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '!'))
                    .unwrap_or(tail.len());
                // `herd_tokio::serve` is not tokio's: the root must start a path.
                let starts_path =
                    !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
                if starts_path {
                    *found
                        .entry(tail[..end].trim_end_matches(':').to_owned())
                        .or_default() += 1;
                }
                rest = &tail[end..];
            }
        }
    }
    found
}

/// Counts of the language features the report discusses.
pub fn features(text: &str) -> BTreeMap<String, usize> {
    let count = |needle: &str| text.matches(needle).count();
    BTreeMap::from([
        ("async fn".to_owned(), count("async fn ")),
        (".await".to_owned(), count(".await")),
        (
            "Arc (shared ownership)".to_owned(),
            count("Arc::clone") + count("Arc::new"),
        ),
        ("Mutex".to_owned(), count("Mutex<") + count(".lock()")),
        ("let chains (Rust 1.88)".to_owned(), count("&& let ")),
        (
            "blocking calls in the shell".to_owned(),
            count("std::thread::sleep") + count(".join()"),
        ),
    ])
}

/// A crate as `(name, version)`.
pub type Crate = (String, String);

/// Every crate in the normal-dependency tree of `package` as cargo resolves it for that
/// package alone. (`cargo metadata`'s graph unifies features across the whole workspace, so
/// it would credit one backend with another's dependencies.)
fn tree(root: &Path, package: &str) -> anyhow::Result<BTreeSet<Crate>> {
    let out = Command::new("cargo")
        .args([
            "tree", "--locked", "-e", "normal", "--prefix", "none", "--format", "{p}", "-p",
            package,
        ])
        .current_dir(root)
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse_tree(&String::from_utf8_lossy(&out.stdout)))
}

/// `name vX.Y.Z [...]` lines of `cargo tree --prefix none --format {p}`.
pub fn parse_tree(text: &str) -> BTreeSet<Crate> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?;
            let version = f.next()?.strip_prefix('v')?;
            Some((name.to_owned(), version.to_owned()))
        })
        .collect()
}

/// The highest `rust-version` declared by a third-party crate of `crates` (crates in
/// `leave_out` excepted), and which crate declares it. Workspace members (no `source`)
/// carry the project's own rust-version and are not counted.
pub fn msrv(
    metadata: &Value,
    crates: &BTreeSet<Crate>,
    leave_out: &BTreeSet<Crate>,
) -> (Option<String>, Option<String>) {
    let version = |v: &str| {
        v.split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let best = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| !p["source"].is_null())
        .filter_map(|p| {
            let key = (
                p["name"].as_str()?.to_owned(),
                p["version"].as_str()?.to_owned(),
            );
            if !crates.contains(&key) || leave_out.contains(&key) {
                return None;
            }
            Some((
                p["rust_version"].as_str()?.to_owned(),
                format!("{} {}", key.0, key.1),
            ))
        })
        .max_by(|a, b| version(&a.0).cmp(&version(&b.0)));
    (best.as_ref().map(|b| b.0.clone()), best.map(|b| b.1))
}

/// Everything above, for the protocol crate, the shell support crate and every backend in
/// Rust (the crate `herd-<name>`); a backend in another language has no Cargo package to
/// measure and gets no source facts here.
pub fn collect(root: &Path, backends: &[BackendInfo]) -> anyhow::Result<SourceFacts> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&out.stdout)?;
    // What every backend shares (the protocol core and the shell support crate).
    let shared = tree(root, "herd-shell")?;
    let mut facts = Vec::new();
    for backend in backends.iter().filter(|b| b.language == "Rust") {
        let (name, package) = (&backend.name, format!("herd-{}", backend.name));
        let dir = root.join(&package).join("src");
        let text = rust_files(&dir).join("\n");
        let crates = tree(root, &package)?;
        let (runtime_msrv, runtime_msrv_set_by) = msrv(&metadata, &crates, &shared);
        let (msrv, msrv_set_by) = msrv(&metadata, &crates, &BTreeSet::new());
        let dependency_count = crates.len().saturating_sub(1);
        facts.push(BackendSource {
            backend: name.clone(),
            code_lines: code_lines(&dir),
            runtime_api: runtime_api(&text, &runtime_roots(&backend.runtime_crates)),
            features: features(&text),
            msrv,
            msrv_set_by,
            runtime_msrv,
            runtime_msrv_set_by,
            dependency_count,
        });
    }
    Ok(SourceFacts {
        protocol_code_lines: code_lines(&root.join("protocol/src")),
        shell_code_lines: code_lines(&root.join("shell/src")),
        backends: facts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_runtime_paths_in_uses_and_code() {
        let text = "use tokio::net::TcpStream;\nuse tokio::io::{AsyncReadExt, AsyncWriteExt};\nuse std::sync::Arc;\n// tokio::ignored\nlet x = tokio::time::timeout(d, f);\nherd_tokio::serve(l, s);\n";
        let api = runtime_api(text, &runtime_roots(&["tokio".to_owned()]));
        assert_eq!(api.get("tokio::net::TcpStream"), Some(&1));
        assert_eq!(api.get("tokio::io::AsyncWriteExt"), Some(&1));
        assert_eq!(api.get("tokio::time::timeout"), Some(&1));
        assert!(
            !api.contains_key("tokio::ignored")
                && !api.keys().any(|k| k.contains("Arc") || k.contains("serve"))
        );
    }

    #[test]
    fn highest_rust_version_among_third_party_crates() {
        let metadata = serde_json::json!({
            "packages": [
                {"name": "app", "version": "1.0.0", "rust_version": "1.95", "source": null},
                {"name": "lib", "version": "2.1.0", "rust_version": "1.85", "source": "registry"},
                {"name": "lib", "version": "1.0.0", "rust_version": "1.90", "source": "registry"},
                {"name": "small", "version": "0.3.0", "rust_version": "1.70", "source": "registry"},
                {"name": "tiny", "version": "0.2.0", "rust_version": null, "source": "registry"}
            ]
        });
        let crates = parse_tree(
            "app v1.0.0 (/work/app)\nlib v2.1.0\nsmall v0.3.0\ntiny v0.2.0\nlib v2.1.0 (*)\n",
        );
        assert_eq!(crates.len(), 4);
        assert_eq!(
            msrv(&metadata, &crates, &BTreeSet::new()),
            (Some("1.85".into()), Some("lib 2.1.0".into()))
        );
        let shared = parse_tree("lib v2.1.0\n");
        assert_eq!(
            msrv(&metadata, &crates, &shared),
            (Some("1.70".into()), Some("small 0.3.0".into()))
        );
    }

    #[test]
    fn counts_code_lines_without_comments_or_blanks() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("a.rs"),
            "// c\n\nfn a() {}\n  //! doc\nlet x = 1; // tail\n",
        )
        .expect("write");
        assert_eq!(code_lines(dir.path()), 2);
    }

    #[test]
    fn the_manifest_names_the_runtime_roots() {
        let text = "use async_std::task;\nuse async_io::Timer;\nuse futures_lite::future;\nuse std::net::TcpStream;\nlet t = async_std::task::spawn(f);\nlet h = std::thread::spawn(f);\n";
        // async-std's manifest lists async-std and async-io: futures-lite is not its runtime.
        let api = runtime_api(
            text,
            &runtime_roots(&["async-std".to_owned(), "async-io".to_owned()]),
        );
        assert_eq!(
            api.keys().collect::<Vec<_>>(),
            [
                "async_io::Timer",
                "async_std::task",
                "async_std::task::spawn"
            ]
        );
        // No runtime crates: the standard library is the runtime.
        let api = runtime_api(text, &runtime_roots(&[]));
        assert_eq!(
            api.keys().collect::<Vec<_>>(),
            ["std::net::TcpStream", "std::thread::spawn"]
        );
        // A root is a whole segment: `tokio` does not claim `tokio_util`.
        let api = runtime_api(
            "use tokio_util::codec;\n",
            &runtime_roots(&["tokio".to_owned()]),
        );
        assert!(api.is_empty(), "{api:?}");
    }
}
