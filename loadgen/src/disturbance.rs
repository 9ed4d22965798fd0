//! Was the machine quiet while a point was measured?
//!
//! From /proc: the 1-minute load average, the share of CPU time the hypervisor stole, and
//! the CPU used by processes outside the run (every busy tick of the machine minus what the
//! load generator, the servers and the places service used themselves). A point is
//! disturbed when others took more than [`OUTSIDE_CORES_LIMIT`] of a core or the
//! hypervisor stole more than [`STEAL_LIMIT`] of the time; the suite repeats it.

use std::time::Duration;

use herd_records::Disturbance;

/// CPU used by processes outside the run above which a point is disturbed, in cores.
pub const OUTSIDE_CORES_LIMIT: f64 = 0.25;
/// Stolen share of CPU time above which a point is disturbed.
pub const STEAL_LIMIT: f64 = 0.05;

/// The machine-wide CPU counters of /proc/stat's `cpu` line, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq (guest time is inside user).
    pub busy: u64,
    pub steal: u64,
    /// Everything up to and including steal (idle and iowait too).
    pub total: u64,
}

/// The aggregate `cpu` line of /proc/stat.
pub fn parse_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let field = |i: usize| f.get(i).copied();
    let busy = field(0)? + field(1)? + field(2)? + field(5)? + field(6)?;
    let steal = field(7).unwrap_or(0);
    let total = busy + field(3)? + field(4)? + steal;
    Some(CpuTimes { busy, steal, total })
}

/// The 1-minute figure of /proc/loadavg.
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Reads /proc/stat now.
pub fn cpu_times() -> Option<CpuTimes> {
    parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .as_deref()
        .and_then(parse_loadavg)
        .unwrap_or(0.0)
}

/// Judges a point from the counters around it: `run_cpu` is what the load generator and
/// the processes it measured used over `wall`; `ticks_per_second` is CLK_TCK.
pub fn judge(
    before: CpuTimes,
    after: CpuTimes,
    ticks_per_second: u64,
    wall: Duration,
    run_cpu: Duration,
    loadavg_1m: f64,
) -> Disturbance {
    let ticks = |t: u64| t as f64 / ticks_per_second.max(1) as f64;
    let busy = ticks(after.busy.saturating_sub(before.busy));
    let total = after.total.saturating_sub(before.total);
    let steal_fraction = if total == 0 {
        0.0
    } else {
        after.steal.saturating_sub(before.steal) as f64 / total as f64
    };
    // Tick counters are coarse (10 ms): small negatives are rounding, not negative work.
    let outside = (busy - run_cpu.as_secs_f64()).max(0.0) / wall.as_secs_f64().max(1e-9);
    Disturbance {
        loadavg_1m,
        steal_fraction,
        outside_cpu_cores: outside,
        disturbed: outside > OUTSIDE_CORES_LIMIT || steal_fraction > STEAL_LIMIT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_BEFORE: &str = "cpu  247241 10 59702 71724 883 5 2310 1125 0 0\n\
cpu0 124000 0 28155 37559 233 0 997 525 0 0\n\
cpu1 123241 10 31546 34165 649 5 1313 600 0 0\n\
intr 1234 0 0\nctxt 99\n";

    #[test]
    fn parses_the_aggregate_cpu_line() {
        let t = parse_stat(STAT_BEFORE).expect("parses");
        assert_eq!(t.busy, 247_241 + 10 + 59_702 + 5 + 2_310);
        assert_eq!(t.steal, 1_125);
        assert_eq!(t.total, t.busy + 71_724 + 883 + 1_125);
        // Old kernels without steal; garbage; a per-CPU line only.
        let old = parse_stat("cpu  1 2 3 4 5 6 7\n").expect("seven fields");
        assert_eq!((old.busy, old.steal, old.total), (1 + 2 + 3 + 6 + 7, 0, 28));
        assert_eq!(parse_stat("cpu  1 2 x 4 5 6 7 8\n"), None);
        assert_eq!(parse_stat("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(parse_stat("cpu  1 2 3\n"), None);
    }

    #[test]
    fn parses_loadavg() {
        assert_eq!(parse_loadavg("12.21 10.55 6.29 12/261 4588\n"), Some(12.21));
        assert_eq!(parse_loadavg(""), None);
    }

    fn times(busy: u64, steal: u64, idle: u64) -> CpuTimes {
        CpuTimes {
            busy,
            steal,
            total: busy + steal + idle,
        }
    }

    #[test]
    fn a_quiet_point_is_not_disturbed_and_a_busy_neighbour_is() {
        let second = Duration::from_secs(1);
        // 2 cores for 1 s = 200 ticks. The run used 1.2 s of CPU; the machine 125 ticks.
        let quiet = judge(
            times(1_000, 0, 1_000),
            times(1_125, 0, 1_075),
            100,
            second,
            Duration::from_millis(1_200),
            0.4,
        );
        assert!((quiet.outside_cpu_cores - 0.05).abs() < 1e-9, "{quiet:?}");
        assert!(!quiet.disturbed);
        assert_eq!(quiet.loadavg_1m, 0.4);
        // Someone else compiled on the other core for the whole second.
        let busy = judge(
            times(1_000, 0, 1_000),
            times(1_200, 0, 1_000),
            100,
            second,
            Duration::from_millis(1_000),
            3.0,
        );
        assert!((busy.outside_cpu_cores - 1.0).abs() < 1e-9, "{busy:?}");
        assert!(busy.disturbed);
        // The run used more than the coarse counters saw: not negative.
        let rounding = judge(
            times(0, 0, 0),
            times(100, 0, 100),
            100,
            second,
            Duration::from_millis(1_010),
            0.0,
        );
        assert_eq!(rounding.outside_cpu_cores, 0.0);
    }

    #[test]
    fn stolen_time_disturbs_a_point() {
        let stolen = judge(
            times(0, 0, 0),
            times(100, 20, 80),
            100,
            Duration::from_secs(1),
            Duration::from_secs(1),
            1.0,
        );
        assert!((stolen.steal_fraction - 0.1).abs() < 1e-9);
        assert!(stolen.disturbed);
    }

    #[test]
    fn reads_this_machine() {
        assert!(cpu_times().is_some_and(|t| t.total > 0));
        assert!(loadavg() >= 0.0);
    }
}
