//! Times as exact integer nanoseconds.
//!
//! The protocol compares client times and computes skews exactly, never through floating
//! point, so every time is an `i128` count of nanoseconds since the Unix epoch. The core never
//! reads a clock: the caller passes "now" in.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (negative before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub i128);

impl Nanos {
    pub const NANOS_PER_SEC: i128 = 1_000_000_000;

    /// Converts a wall-clock reading the caller made.
    pub fn from_system_time(at: SystemTime) -> Nanos {
        match at.duration_since(UNIX_EPOCH) {
            Ok(after) => Nanos(after.as_nanos() as i128),
            Err(before) => Nanos(-(before.duration().as_nanos() as i128)),
        }
    }

    pub fn from_secs(secs: i64) -> Nanos {
        Nanos(i128::from(secs) * Self::NANOS_PER_SEC)
    }

    pub fn saturating_add(self, d: Duration) -> Nanos {
        Nanos(self.0.saturating_add(d.as_nanos() as i128))
    }

    /// `self - earlier`, the signed difference.
    pub fn skew_since(self, earlier: Nanos) -> Skew {
        Skew(self.0 - earlier.0)
    }
}

/// A signed difference of two times, printed as the protocol wants it: a mandatory sign and
/// exactly nine fractional digits (`+0.263873386`, `-0.000012000`, zero as `+0.000000000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew(pub i128);

impl fmt::Display for Skew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let magnitude = self.0.unsigned_abs();
        let per_sec = Nanos::NANOS_PER_SEC as u128;
        write!(
            f,
            "{sign}{}.{:09}",
            magnitude / per_sec,
            magnitude % per_sec
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_formats_with_sign_and_nine_digits() {
        let cases = [
            (0, "+0.000000000"),
            (263_873_386, "+0.263873386"),
            (-12_000, "-0.000012000"),
            (5 * Nanos::NANOS_PER_SEC + 1, "+5.000000001"),
            (-1_621_464_827_959_498_503, "-1621464827.959498503"),
        ];
        for (nanos, text) in cases {
            assert_eq!(Skew(nanos).to_string(), text);
        }
    }

    #[test]
    fn system_time_before_epoch_is_negative() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(Nanos::from_system_time(t), Nanos(-1_500_000_000));
        let t = UNIX_EPOCH + Duration::new(3, 7);
        assert_eq!(Nanos::from_system_time(t), Nanos(3_000_000_007));
    }
}
