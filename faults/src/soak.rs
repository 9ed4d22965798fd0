//! The soak: steady mixed load on a plain herd for a long time, sampling every server's
//! resident memory and open file descriptors from /proc, and the growth over the last two
//! thirds of the run (the first third is warm-up: allocators and buffers reach their size).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use herd_launcher::{Herd, HerdSpec, Manifest, PlacesSpec, Profile, Topology};

use crate::load::{History, Load, LoadSpec, connections_for};

/// Largest growth, in percent, a soak may show over its last two thirds.
pub const TARGET_GROWTH_PCT: f64 = 5.0;

#[derive(Debug, Clone)]
pub struct SoakPlan {
    pub duration: Duration,
    pub sample_every: Duration,
    /// Places service latency.
    pub places_latency: Duration,
    pub load: LoadSpec,
}

/// One reading of one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Since the load started.
    pub at: Duration,
    pub server: String,
    pub pid: u32,
    pub rss_kib: u64,
    pub fds: u64,
}

/// Growth of one server over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Growth {
    pub server: String,
    pub window_start: Duration,
    pub rss_start: f64,
    pub rss_end: f64,
    pub rss_pct: f64,
    pub fds_start: f64,
    pub fds_end: f64,
    pub fds_pct: f64,
}

impl Growth {
    pub fn within(&self, pct: f64) -> bool {
        self.rss_pct <= pct && self.fds_pct <= pct
    }
}

/// Resident memory (KiB, `VmRSS` of /proc/PID/status) and open descriptors (entries of
/// /proc/PID/fd) of a process.
pub fn read_proc(pid: u32) -> std::io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| std::io::Error::other("no VmRSS line"))?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
    Ok((rss, fds))
}

/// Per server: the mean of the first and of the last tenth of the samples taken in the last
/// two thirds of `duration`, and the change between them in percent. Means of a tenth (at
/// least one sample) keep one noisy reading from deciding.
pub fn growth(samples: &[Sample], duration: Duration) -> Vec<Growth> {
    let window_start = duration / 3;
    let mut servers: Vec<&str> = samples.iter().map(|s| s.server.as_str()).collect();
    servers.sort_unstable();
    servers.dedup();
    servers
        .into_iter()
        .filter_map(|server| {
            let window: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.server == server && s.at >= window_start)
                .collect();
            if window.is_empty() {
                return None;
            }
            let tenth = (window.len() / 10).max(1);
            let mean = |part: &[&Sample], f: fn(&Sample) -> u64| {
                part.iter().map(|s| f(s) as f64).sum::<f64>() / part.len() as f64
            };
            let (first, last) = (&window[..tenth], &window[window.len() - tenth..]);
            let pct = |a: f64, b: f64| if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
            let (rss_start, rss_end) = (mean(first, |s| s.rss_kib), mean(last, |s| s.rss_kib));
            let (fds_start, fds_end) = (mean(first, |s| s.fds), mean(last, |s| s.fds));
            Some(Growth {
                server: server.to_owned(),
                window_start,
                rss_start,
                rss_end,
                rss_pct: pct(rss_start, rss_end),
                fds_start,
                fds_end,
                fds_pct: pct(fds_start, fds_end),
            })
        })
        .collect()
}

/// What a soak measured.
#[derive(Debug, Clone)]
pub struct SoakOutcome {
    pub backend: String,
    pub samples: Vec<Sample>,
    pub growth: Vec<Growth>,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// The offered load (commands/s over the herd) and how it was chosen.
    pub rate: f64,
    pub rate_source: String,
    /// The CPUs this soak's lane was pinned to; empty if it was not pinned.
    pub cpus: Vec<usize>,
    /// Client connections the load used, over all servers.
    pub connections: usize,
}

/// Runs the soak against one backend's herd.
pub fn run(
    root: &Path,
    manifest: &Manifest,
    profile: Profile,
    topology: Topology,
    plan: &SoakPlan,
) -> anyhow::Result<SoakOutcome> {
    let mut spec = HerdSpec::new(manifest.clone(), topology, profile);
    spec.places = PlacesSpec::Service {
        latency: format!("{}ms", plan.places_latency.as_millis()),
        error_rate: 0.0,
        seed: plan.load.seed,
    };
    let mut herd =
        Herd::start(root, spec).with_context(|| format!("starting the {} herd", manifest.name))?;
    let names: Vec<String> = herd.names().map(str::to_owned).collect();
    let addrs = names
        .iter()
        .map(|n| herd.addr(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pids = herd.pids();
    let history = Arc::new(History::new(plan.load.clients));
    let mut load_spec = plan.load.clone();
    load_spec.connections_per_server = connections_for(
        load_spec.rate,
        load_spec.whatsat_share,
        plan.places_latency,
        addrs.len(),
    );
    let load = Load::start(&load_spec, &addrs, Arc::clone(&history));
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next = start;
    while start.elapsed() < plan.duration {
        let at = start.elapsed();
        for (server, &pid) in &pids {
            let (rss_kib, fds) =
                read_proc(pid).with_context(|| format!("reading /proc of {server}"))?;
            samples.push(Sample {
                at,
                server: server.clone(),
                pid,
                rss_kib,
                fds,
            });
        }
        herd.check_alive()?;
        next += plan.sample_every;
        // The sampling period itself.
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    load.stop();
    herd.stop();
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    Ok(SoakOutcome {
        backend: manifest.name.clone(),
        growth: growth(&samples, plan.duration),
        samples,
        sent: count(&history.sent) + count(&history.whatsats),
        acked: count(&history.acks),
        failed: count(&history.failed),
        rate: load_spec.rate,
        rate_source: String::new(),
        cpus: Vec::new(),
        connections: load_spec.connections_per_server * addrs.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(secs: u64, server: &str, rss: u64, fds: u64) -> Sample {
        Sample {
            at: Duration::from_secs(secs),
            server: server.into(),
            pid: 1,
            rss_kib: rss,
            fds,
        }
    }

    #[test]
    fn growth_ignores_the_first_third_and_averages_tenths() {
        let mut samples = Vec::new();
        for t in 0..30 {
            // A: doubles during warm-up, then flat. B: grows 1% a second in the window.
            samples.push(sample(t, "A", if t < 10 { 1000 } else { 2000 }, 10));
            samples.push(sample(t, "B", 1000 + 10 * t, if t >= 25 { 12 } else { 10 }));
        }
        let g = growth(&samples, Duration::from_secs(30));
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].server, "A");
        assert_eq!((g[0].rss_pct, g[0].fds_pct), (0.0, 0.0));
        assert!(g[0].within(TARGET_GROWTH_PCT));
        // Window 10..29: first tenth = t 10,11 (mean 1105), last = t 28,29 (mean 1285).
        assert!((g[1].rss_pct - (1285.0 - 1105.0) / 1105.0 * 100.0).abs() < 1e-9);
        assert!((g[1].fds_pct - 20.0).abs() < 1e-9);
        assert!(!g[1].within(TARGET_GROWTH_PCT));
    }

    #[test]
    fn reads_this_process() {
        let (rss, fds) = read_proc(std::process::id()).expect("/proc");
        assert!(rss > 0);
        assert!(fds >= 3, "stdin, stdout, stderr at least: {fds}");
    }
}
