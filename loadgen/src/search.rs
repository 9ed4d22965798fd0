//! The search for a backend's maximum sustainable rate, as a pure state machine.
//!
//! Ramp: from a start rate, multiply by a factor until a rate fails (or the cap passes).
//! Bisect: halve the interval between the highest rate that passed and the lowest that
//! failed until it is within `precision` of the highest pass. The caller then confirms the
//! found rate with repetitions; a confirmation that fails is reported back as a failure at
//! that rate and the search goes on below it. The points are the caller's to measure: this
//! only says which rate comes next, so it is tested against fake systems.
//!
//! A rate that fails is never taken as the limit, and a pass above a failure does not count
//! (a noisy system cannot pull the answer above a rate it failed at).

use herd_records::Phase;

/// How the search proceeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub start: f64,
    /// Ramp multiplier (> 1).
    pub factor: f64,
    /// Stop bisecting when (lowest fail - highest pass) / highest pass is at most this.
    pub precision: f64,
    /// No rate above this is tried; reaching it ends the search.
    pub max_rate: f64,
    /// No rate below this is tried; failing it ends the search with nothing sustained.
    pub min_rate: f64,
    /// Points measured at most (ramp and bisection).
    pub max_points: u32,
}

#[derive(Debug, Clone)]
pub struct Search {
    bounds: Bounds,
    passes: Vec<f64>,
    fails: Vec<f64>,
}

impl Search {
    pub fn new(bounds: Bounds) -> Search {
        Search {
            bounds,
            passes: Vec::new(),
            fails: Vec::new(),
        }
    }

    /// The lowest rate that failed.
    pub fn lowest_fail(&self) -> Option<f64> {
        self.fails.iter().copied().reduce(f64::min)
    }

    /// The highest rate that passed below every failure.
    pub fn highest_pass(&self) -> Option<f64> {
        let ceiling = self.lowest_fail().unwrap_or(f64::INFINITY);
        self.passes
            .iter()
            .copied()
            .filter(|&p| p < ceiling)
            .reduce(f64::max)
    }

    /// (lowest fail - highest pass) / highest pass; infinite until both are known.
    pub fn precision(&self) -> f64 {
        match (self.highest_pass(), self.lowest_fail()) {
            (Some(p), Some(f)) if p > 0.0 => (f - p) / p,
            _ => f64::INFINITY,
        }
    }

    pub fn record(&mut self, rate: f64, passed: bool) {
        if passed {
            self.passes.push(rate);
        } else {
            self.fails.push(rate);
        }
    }

    fn points(&self) -> u32 {
        (self.passes.len() + self.fails.len()) as u32
    }

    /// The next rate to measure and why, or `None` when the search is over (then confirm
    /// [`Search::highest_pass`], if any).
    pub fn next(&self) -> Option<(Phase, f64)> {
        let b = &self.bounds;
        if self.points() >= b.max_points {
            return None;
        }
        match (self.highest_pass(), self.lowest_fail()) {
            (None, None) => Some((Phase::Ramp, b.start.min(b.max_rate))),
            // Nothing passed yet: step down from the lowest failure.
            (None, Some(f)) => {
                let rate = f / b.factor;
                (rate >= b.min_rate).then_some((Phase::Ramp, rate))
            }
            (Some(p), None) => {
                let rate = (p * b.factor).min(b.max_rate);
                (rate > p).then_some((Phase::Ramp, rate))
            }
            (Some(p), Some(f)) => {
                ((f - p) / p > b.precision).then_some((Phase::Bisect, (p + f) / 2.0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            start: 2_000.0,
            factor: 2.0,
            precision: 0.05,
            max_rate: 1_000_000.0,
            min_rate: 100.0,
            max_points: 30,
        }
    }

    /// Runs the search against `system` (rate -> passed) and returns it with the rates tried.
    fn drive(bounds: Bounds, mut system: impl FnMut(f64) -> bool) -> (Search, Vec<(Phase, f64)>) {
        let mut s = Search::new(bounds);
        let mut tried = Vec::new();
        while let Some((phase, rate)) = s.next() {
            tried.push((phase, rate));
            let passed = system(rate);
            s.record(rate, passed);
        }
        (s, tried)
    }

    #[test]
    fn finds_a_sharp_limit_to_within_the_precision() {
        for limit in [2_500.0, 9_999.0, 16_000.0, 17_500.0, 31_000.0, 250_000.0] {
            let (s, tried) = drive(bounds(), |rate| rate <= limit);
            let (p, f) = (
                s.highest_pass().expect("pass"),
                s.lowest_fail().expect("fail"),
            );
            assert!(
                p <= limit && limit < f,
                "limit {limit}: {p}..{f} after {tried:?}"
            );
            assert!(s.precision() <= 0.05, "limit {limit}: {}", s.precision());
            // Ramp first, then bisection only.
            let first_bisect = tried.iter().position(|t| t.0 == Phase::Bisect);
            if let Some(i) = first_bisect {
                assert!(tried[i..].iter().all(|t| t.0 == Phase::Bisect), "{tried:?}");
            }
            assert!(tried.len() <= 15, "limit {limit}: {} points", tried.len());
        }
    }

    #[test]
    fn two_systems_ten_percent_apart_are_told_apart() {
        // The old doubling sweep called 16k and 17.6k the same "16.0k".
        let a = drive(bounds(), |r| r <= 16_000.0)
            .0
            .highest_pass()
            .expect("a");
        let b = drive(bounds(), |r| r <= 17_600.0)
            .0
            .highest_pass()
            .expect("b");
        assert!(b / a > 1.04, "{a} vs {b}");
    }

    #[test]
    fn a_failing_start_steps_down_and_a_failing_floor_ends_with_nothing() {
        let (s, tried) = drive(bounds(), |r| r <= 700.0);
        assert_eq!(tried[0], (Phase::Ramp, 2_000.0));
        assert_eq!(tried[1], (Phase::Ramp, 1_000.0));
        assert_eq!(tried[2], (Phase::Ramp, 500.0));
        let p = s.highest_pass().expect("pass");
        assert!(p <= 700.0 && s.precision() <= 0.05, "{p} {tried:?}");
        let (s, _) = drive(bounds(), |_| false);
        assert_eq!(s.highest_pass(), None);
    }

    #[test]
    fn the_cap_and_the_point_budget_end_the_search() {
        let (s, tried) = drive(bounds(), |_| true);
        assert_eq!(s.highest_pass(), Some(1_000_000.0));
        assert_eq!(s.lowest_fail(), None);
        assert_eq!(tried.last(), Some(&(Phase::Ramp, 1_000_000.0)));
        let few = Bounds {
            max_points: 3,
            ..bounds()
        };
        assert_eq!(drive(few, |r| r <= 5_000.0).1.len(), 3);
    }

    #[test]
    fn a_failed_confirmation_moves_the_answer_below_it() {
        let (mut s, _) = drive(bounds(), |r| r <= 10_000.0);
        let found = s.highest_pass().expect("found");
        // Confirmation at `found` fails (a noisy system): the search resumes below it.
        s.record(found, false);
        let below = s.highest_pass().expect("an earlier pass");
        assert!(below < found);
        // A lucky pass above a failure never becomes the answer.
        s.record(found * 1.5, true);
        assert!(s.highest_pass().expect("pass") < found);
    }
}
