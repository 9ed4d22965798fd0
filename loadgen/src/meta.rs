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
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        memory_bytes: memory_kib * 1024,
    }
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
pub fn crate_versions(root: &Path, names: &[&str]) -> BTreeMap<String, String> {
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
        .filter(|(n, _)| names.contains(&n.as_str()))
        .collect()
}

/// Crates whose versions every run records.
pub const MEASURED_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "async-global-executor",
    "smol",
    "async-executor",
    "async-io",
    "async-net",
    "async-channel",
    "hdrhistogram",
    "mio",
    "axum",
    "hyper",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine_and_checkout() {
        let h = host();
        assert!(h.cores >= 1 && h.memory_bytes > 0 && !h.kernel.is_empty());
        let root = herd_launcher::workspace_root().expect("root");
        let versions = crate_versions(&root, MEASURED_CRATES);
        assert!(
            versions.contains_key("tokio") && versions.contains_key("async-std"),
            "{versions:?}"
        );
    }
}
