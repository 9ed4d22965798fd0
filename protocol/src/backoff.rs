//! Reconnect back-off for peer links, as a pure function of the attempt number.

use std::time::Duration;

/// First retry delay after a link drops.
pub const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The delay never grows past this, so a neighbour that returns is found within it.
pub const MAX_RETRY: Duration = Duration::from_secs(2);

/// Delay before connection attempt number `attempt` (0 = the first retry): doubling from
/// [`FIRST_RETRY`], capped at [`MAX_RETRY`]. No jitter: herds are small and a
/// deterministic schedule keeps runs comparable across backends.
pub fn reconnect_delay(attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
    FIRST_RETRY.saturating_mul(factor).min(MAX_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let ms: Vec<u128> = (0..8).map(|a| reconnect_delay(a).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(reconnect_delay(u32::MAX), MAX_RETRY);
    }
}
