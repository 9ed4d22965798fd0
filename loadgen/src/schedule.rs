//! When each command is meant to be sent, as a pure function.
//!
//! Open loop (wrk2's model): the rate is fixed in advance and every command has an intended
//! send time whether or not earlier replies have come back. Latency is measured from that
//! intended time, so a server that stalls is charged for every command it delayed, not just
//! the one it was working on (no coordinated omission). Closed loop keeps a fixed number of
//! commands in flight and measures from the actual send: it shows throughput at saturation
//! but hides stalls, which is why the sweep and the latency figures use open loop.

use std::time::Duration;

/// How commands are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// `rate` commands per second over all connections.
    Open { rate: f64 },
    /// As fast as replies allow, `pipeline` in flight per connection.
    Closed,
}

/// The intended send time (from the start of the run) of command `k` on connection `conn`
/// of `connections`, at `rate` commands/s overall. Connections are interleaved, so the
/// whole load is evenly spaced at 1/rate.
pub fn intended(rate: f64, connections: usize, conn: usize, k: u64) -> Duration {
    let slot = conn as f64 + k as f64 * connections as f64;
    Duration::from_secs_f64(slot / rate)
}

/// When to stop: after a fixed measured duration, or once a number of commands were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    After(Duration),
    Count(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_spaces_all_commands_evenly() {
        // 4 connections at 1000/s: one command every millisecond, round-robin.
        let mut times: Vec<(Duration, usize)> = (0..4)
            .flat_map(|c| (0..3).map(move |k| (intended(1000.0, 4, c, k), c)))
            .collect();
        times.sort();
        for (i, (t, conn)) in times.iter().enumerate() {
            assert_eq!(*t, Duration::from_millis(i as u64));
            assert_eq!(*conn, i % 4);
        }
    }

    #[test]
    fn per_connection_rate_is_the_share() {
        let gap = intended(500.0, 10, 3, 1) - intended(500.0, 10, 3, 0);
        assert_eq!(gap, Duration::from_millis(20));
    }
}
