//! What a run records about the machine, the toolchain and the code it measured.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use herd_records::Host;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn command(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn host() -> Host {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    let memory_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Host {
        hostname: read("/proc/sys/kernel/hostname").trim().to_owned(),
        cpu_model,
        // The machine's, not this process's: loadgen pins itself to its own CPUs, and
        // available_parallelism counts only those.
        cores: processors(&cpuinfo),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        memory_bytes: memory_kib * 1024,
    }
}

/// Logical processors listed in /proc/cpuinfo (at least 1).
fn processors(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count()
        .max(1)
}

/// (revision, dirty) of the checkout at `root`.
pub fn git(root: &Path) -> (String, bool) {
    let revision = command("git", &["rev-parse", "HEAD"], root).unwrap_or_else(|| "unknown".into());
    let dirty = command(
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
        root,
    )
    .is_some_and(|s| !s.is_empty());
    (revision, dirty)
}

pub fn rustc(root: &Path) -> String {
    command("rustc", &["--version"], root).unwrap_or_else(|| "unknown".into())
}

/// Versions from Cargo.lock of the named crates.
pub fn crate_versions(root: &Path, names: &[String]) -> BTreeMap<String, String> {
    let lock: toml::Table = read(&root.join("Cargo.lock").display().to_string())
        .parse()
        .unwrap_or_default();
    let packages = lock
        .get("package")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    packages
        .iter()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_owned(),
                p.get("version")?.as_str()?.to_owned(),
            ))
        })
        .filter(|(n, _)| names.contains(n))
        .collect()
}

/// The crates a run's versions are recorded for: every manifest's runtime crates, and the
/// registry dependencies of the instrument itself (loadgen, the ceiling responder, the
/// places service), read from their Cargo.toml files rather than listed here.
pub fn crate_names(root: &Path, manifests: &[herd_launcher::Manifest]) -> Vec<String> {
    let mut names: Vec<String> = manifests
        .iter()
        .flat_map(|m| m.runtime_crates.iter().cloned())
        .collect();
    for krate in ["loadgen", "ceiling", "places"] {
        let toml: toml::Table = read(&root.join(krate).join("Cargo.toml").display().to_string())
            .parse()
            .unwrap_or_default();
        if let Some(deps) = toml.get("dependencies").and_then(toml::Value::as_table) {
            // Workspace members are not versioned crates of their own.
            names.extend(deps.keys().filter(|d| !d.starts_with("herd-")).cloned());
        }
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine_and_checkout() {
        let h = host();
        assert!(h.cores >= 1 && h.memory_bytes > 0 && !h.kernel.is_empty());
        let root = herd_launcher::workspace_root().expect("root");
        let manifests = herd_launcher::discover(&root).expect("manifests");
        let names = crate_names(&root, &manifests);
        // Every manifest's runtime crates, and the instrument's own, with no list here.
        for m in &manifests {
            for c in &m.runtime_crates {
                assert!(
                    names.contains(c),
                    "{c} of {} missing from {names:?}",
                    m.name
                );
            }
        }
        assert!(names.iter().any(|n| n == "mio") && names.iter().any(|n| n == "hdrhistogram"));
        assert!(!names.iter().any(|n| n.starts_with("herd-")), "{names:?}");
        let versions = crate_versions(&root, &names);
        assert!(
            versions.contains_key("tokio") && versions.contains_key("mio"),
            "{versions:?}"
        );
    }

    #[test]
    fn counts_processors_not_this_process_affinity() {
        let two = "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n";
        assert_eq!(processors(two), 2);
        assert_eq!(processors(""), 1);
    }
}
