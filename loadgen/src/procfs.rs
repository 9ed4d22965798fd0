//! CPU time, resident memory and thread counts of processes, read from /proc.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One reading of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// User + system CPU time.
    pub cpu: Duration,
    pub rss_bytes: u64,
    pub threads: u64,
}

/// Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, nearly always 100).
pub fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// utime + stime from the text of /proc/<pid>/stat, in ticks. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its closing parenthesis.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS (bytes) and Threads from the text of /proc/<pid>/status.
pub fn parse_status(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:") * 1024, field("Threads:"))
}

/// Reads one process now; `None` if it is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    let (rss_bytes, threads) = parse_status(&status);
    let per_sec = ticks_per_second();
    let cpu = Duration::from_secs(ticks / per_sec)
        + Duration::from_nanos((ticks % per_sec) * 1_000_000_000 / per_sec);
    Some(Sample {
        cpu,
        rss_bytes,
        threads,
    })
}

/// CPU time used so far by this whole process (every thread), to the nanosecond.
pub fn own_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Readings of a set of processes over a run: first, last and peaks.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub first: BTreeMap<u32, Sample>,
    pub last: BTreeMap<u32, Sample>,
    pub peak_rss: BTreeMap<u32, u64>,
    pub wall: Duration,
}

impl Usage {
    /// CPU used by all processes between the first and the last reading.
    pub fn cpu(&self) -> Duration {
        self.last
            .iter()
            .map(|(pid, s)| {
                s.cpu
                    .saturating_sub(self.first.get(pid).map_or(Duration::ZERO, |f| f.cpu))
            })
            .sum()
    }

    pub fn peak_rss_sum(&self) -> u64 {
        self.peak_rss.values().sum()
    }

    pub fn peak_rss_max(&self) -> u64 {
        self.peak_rss.values().copied().max().unwrap_or(0)
    }

    pub fn threads(&self) -> u64 {
        self.last.values().map(|s| s.threads).sum()
    }
}

/// Samples `pids` every `every` on a background thread until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    usage: Arc<Mutex<Usage>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(pids: Vec<u32>, every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let usage = Arc::new(Mutex::new(Usage::default()));
        let (s, u) = (Arc::clone(&stop), Arc::clone(&usage));
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            loop {
                let finished = s.load(Ordering::Acquire);
                if let Ok(mut usage) = u.lock() {
                    for &pid in &pids {
                        if let Some(reading) = sample(pid) {
                            usage.first.entry(pid).or_insert(reading);
                            usage.last.insert(pid, reading);
                            let peak = usage.peak_rss.entry(pid).or_insert(0);
                            *peak = (*peak).max(reading.rss_bytes);
                        }
                    }
                    usage.wall = started.elapsed();
                }
                if finished {
                    return;
                }
                std::thread::sleep(every);
            }
        });
        Sampler {
            stop,
            usage,
            thread: Some(thread),
        }
    }

    /// Takes a last reading and returns everything read.
    pub fn finish(mut self) -> Usage {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.usage.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_names() {
        let stat = "1234 (herd (tokio) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 500 1000 300 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn parses_status() {
        let status = "Name:\therd\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t7\n";
        assert_eq!(parse_status(status), (5120 * 1024, 7));
    }

    #[test]
    fn samples_this_process() {
        let me = sample(std::process::id()).expect("own /proc entry");
        assert!(me.rss_bytes > 0 && me.threads >= 1);
    }
}
