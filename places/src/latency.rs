//! The added response delay: fixed or drawn from a distribution, seeded for repeatable runs.

use std::time::Duration;

/// How long to hold each response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    Fixed(Duration),
    /// Normal with mean and standard deviation, clamped at zero.
    Normal {
        mean: Duration,
        stddev: Duration,
    },
    Exponential {
        mean: Duration,
    },
    Uniform {
        low: Duration,
        high: Duration,
    },
}

const FORMS: &str =
    "expected 0, a duration like 20ms or 1.5s, normal:MEAN,STDDEV, exp:MEAN or uniform:LOW,HIGH";

/// A `--latency` spec that does not parse; its message lists every accepted form, because
/// the person who mistyped it is reading a command line, not this source.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bad latency {spec:?}: {why}; {FORMS}")]
pub struct LatencySpecError {
    pub spec: String,
    pub why: String,
}

impl std::str::FromStr for Latency {
    type Err = LatencySpecError;

    fn from_str(spec: &str) -> Result<Latency, LatencySpecError> {
        let bad = |why: &str| LatencySpecError {
            spec: spec.to_owned(),
            why: why.to_owned(),
        };
        let two = |args: &str| -> Result<(Duration, Duration), LatencySpecError> {
            let (a, b) = args
                .split_once(',')
                .ok_or_else(|| bad("needs two durations"))?;
            Ok((
                parse_duration(a).map_err(|e| bad(&e))?,
                parse_duration(b).map_err(|e| bad(&e))?,
            ))
        };
        match spec.split_once(':') {
            None => parse_duration(spec)
                .map(Latency::Fixed)
                .map_err(|e| bad(&e)),
            Some(("normal", args)) => {
                two(args).map(|(mean, stddev)| Latency::Normal { mean, stddev })
            }
            Some(("exp", mean)) => parse_duration(mean)
                .map(|mean| Latency::Exponential { mean })
                .map_err(|e| bad(&e)),
            Some(("uniform", args)) => match two(args)? {
                (low, high) if low <= high => Ok(Latency::Uniform { low, high }),
                _ => Err(bad("LOW must not exceed HIGH")),
            },
            Some((kind, _)) => Err(bad(&format!("unknown distribution {kind:?}"))),
        }
    }
}

/// `0`, `250us`, `20ms`, `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} needs a unit (us, ms or s)"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{number:?} is not a number"))?;
    let secs = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        _ => return Err(format!("unknown unit {unit:?} (use us, ms or s)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// A small seeded generator (splitmix64): the draws only shape a delay, so speed and
/// repeatability matter and cryptographic quality does not.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Latency {
    pub fn sample(&self, rng: &mut Rng) -> Duration {
        let secs = match *self {
            Latency::Fixed(d) => return d,
            Latency::Normal { mean, stddev } => {
                // Box-Muller; 1 - u keeps the logarithm's argument above zero.
                let (u1, u2) = (1.0 - rng.unit(), rng.unit());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                mean.as_secs_f64() + z * stddev.as_secs_f64()
            }
            Latency::Exponential { mean } => -(1.0 - rng.unit()).ln() * mean.as_secs_f64(),
            Latency::Uniform { low, high } => {
                low.as_secs_f64() + rng.unit() * (high.as_secs_f64() - low.as_secs_f64())
            }
        };
        Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_every_form() {
        let cases = [
            ("0", Latency::Fixed(Duration::ZERO)),
            ("20ms", Latency::Fixed(ms(20))),
            ("1.5s", Latency::Fixed(ms(1500))),
            ("250us", Latency::Fixed(Duration::from_micros(250))),
            (
                "normal:20ms,5ms",
                Latency::Normal {
                    mean: ms(20),
                    stddev: ms(5),
                },
            ),
            ("exp:20ms", Latency::Exponential { mean: ms(20) }),
            (
                "uniform:10ms,30ms",
                Latency::Uniform {
                    low: ms(10),
                    high: ms(30),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Latency>(), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_bad_forms_saying_what_is_accepted() {
        for text in [
            "20",
            "fast",
            "-5ms",
            "normal:20ms",
            "exp:x",
            "uniform:30ms,10ms",
            "gamma:1s",
            "20 minutes",
        ] {
            let err = text.parse::<Latency>().expect_err(text).to_string();
            assert!(err.contains("expected 0, a duration"), "{err}");
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn samples_have_the_right_means_and_are_repeatable() {
        let mean = |l: Latency| {
            let mut rng = Rng::new(7);
            (0..20_000)
                .map(|_| l.sample(&mut rng).as_secs_f64())
                .sum::<f64>()
                / 20_000.0
        };
        assert!((mean(Latency::Exponential { mean: ms(20) }) - 0.020).abs() < 0.001);
        assert!(
            (mean(Latency::Normal {
                mean: ms(20),
                stddev: ms(5)
            }) - 0.020)
                .abs()
                < 0.0005
        );
        assert!(
            (mean(Latency::Uniform {
                low: ms(10),
                high: ms(30)
            }) - 0.020)
                .abs()
                < 0.0005
        );
        let draw = || Latency::Exponential { mean: ms(5) }.sample(&mut Rng::new(42));
        assert_eq!(draw(), draw());
    }

    #[test]
    fn normal_never_goes_negative() {
        let mut rng = Rng::new(1);
        let l = Latency::Normal {
            mean: ms(1),
            stddev: ms(10),
        };
        assert!((0..10_000).all(|_| l.sample(&mut rng) >= Duration::ZERO));
    }
}
