//! The search for a backend's maximum sustainable rate, as a pure state machine.
//!
//! Ramp: from a start rate, multiply by a factor until a rate fails (or the cap passes).
//! Bisect: halve the interval between the highest rate that passed and the lowest that
//! failed until it is within `precision` of the highest pass. The caller then confirms the
//! found rate with repetitions ([`Sweep`]); a confirmation that fails is a failure at that
//! rate and the next confirmation steps down below it. The points are the caller's to measure: this
//! only says which rate comes next, so it is tested against fake systems.
//!
//! A rate that fails is never taken as the limit, and a pass above a failure does not count
//! (a noisy system cannot pull the answer above a rate it failed at).
//!
//! [`Sweep`] adds the confirmations: the answer is the rate whose confirmation held, never a
//! search point's single pass; when no confirmation holds within its rounds the answer is
//! the last confirmation, marked unconfirmed, with that confirmation's own figures.

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

impl Bounds {
    /// These bounds, started from a backend's closed-loop throughput `closed_rate` (as many
    /// commands per second as it answered flat out): the search starts at half of it and
    /// ramps by 1.5, since a backend sustains less under the latency objective than it
    /// answers flat out, but rarely less than half. That skips the ramp's doublings from a
    /// fixed start. Without a usable probe (nothing answered) the bounds are unchanged.
    pub fn from_probe(self, closed_rate: f64) -> Bounds {
        if !(closed_rate.is_finite() && closed_rate > 0.0) {
            return self;
        }
        Bounds {
            start: (closed_rate * 0.5).clamp(self.min_rate, self.max_rate),
            factor: 1.5,
            ..self
        }
    }
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

/// The search with its confirmations: which point to measure next, and what was found.
#[derive(Debug, Clone)]
pub struct Sweep {
    search: Search,
    /// Confirmations tried at most.
    rounds: u32,
    confirmations: u32,
    /// The rate of the last confirmation and whether it held.
    last: Option<(f64, bool)>,
}

impl Sweep {
    pub fn new(bounds: Bounds, confirm_rounds: u32) -> Sweep {
        Sweep {
            search: Search::new(bounds),
            rounds: confirm_rounds,
            confirmations: 0,
            last: None,
        }
    }

    pub fn search(&self) -> &Search {
        &self.search
    }

    /// The next point to measure, or `None` when a confirmation held, the confirmation
    /// rounds are spent, or nothing passed to be confirmed.
    ///
    /// The first confirmation is at the search's answer. Single search points pass by luck
    /// near the limit, so once a confirmation fails the search's passes are not trusted to
    /// creep down in 5% steps: each further confirmation steps down from the last by twice
    /// the step before (the precision, then 2x, 4x ...), so a few rounds reach well below.
    pub fn next(&self) -> Option<(Phase, f64)> {
        if self.confirmed().is_some() {
            return None;
        }
        let b = &self.search.bounds;
        match self.last {
            None => self.search.next().or_else(|| {
                let rate = self.search.highest_pass()?;
                (self.rounds > 0).then_some((Phase::Confirm, rate))
            }),
            Some((failed, _)) => {
                let step =
                    (b.precision * f64::from(1u32 << (self.confirmations - 1).min(4))).min(0.5);
                let rate = failed * (1.0 - step);
                (self.confirmations < self.rounds && rate >= b.min_rate)
                    .then_some((Phase::Confirm, rate))
            }
        }
    }

    /// Records a measured point; `passed` is the point's verdict (for a confirmation: most
    /// of its repetitions kept up). A failed confirmation is a failure at that rate and the
    /// next confirmation is below it.
    pub fn record(&mut self, phase: Phase, rate: f64, passed: bool) {
        if phase == Phase::Confirm {
            self.confirmations += 1;
            self.last = Some((rate, passed));
            if !passed {
                // Kept as a failure so `lowest_fail` bounds the answer from above.
                self.search.record(rate, false);
            }
        } else {
            self.search.record(rate, passed);
        }
    }

    /// The rate whose confirmation held.
    pub fn confirmed(&self) -> Option<f64> {
        self.last.filter(|l| l.1).map(|l| l.0)
    }

    /// The rate of the last confirmation measured, held or not: the one whose figures the
    /// result carries.
    pub fn last_confirmation(&self) -> Option<f64> {
        self.last.map(|l| l.0)
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
    fn a_probed_start_finds_the_limit_in_fewer_points() {
        // The start assumes a backend sustains about half its closed-loop rate (issue 11's
        // tokio: ~41 us of CPU per IAMAT flat out, ~24k/s on a core, 10.5k/s sustained);
        // wherever the limit is, it is found, and near half the probe it saves doublings.
        for closed in [2_500.0, 5_000.0, 24_000.0, 60_000.0] {
            for share in [0.2, 0.45, 0.55, 0.8, 1.1] {
                let limit = closed * share;
                let (s, tried) = drive(bounds().from_probe(closed), |r| r <= limit);
                let (p, f) = (s.highest_pass().expect("pass"), s.lowest_fail());
                assert!(
                    p <= limit && f.is_some_and(|f| limit < f),
                    "{closed} {share}: {tried:?}"
                );
                assert!(s.precision() <= 0.05, "{closed} {share}: {tried:?}");
                let default = drive(bounds(), |r| r <= limit).1.len();
                if (0.4..=0.6).contains(&share) && closed >= 20_000.0 {
                    assert!(
                        tried.len() + 2 <= default,
                        "{closed} {share}: {} points against {default}",
                        tried.len()
                    );
                }
            }
        }
        // Nothing answered in the probe: the fixed start.
        assert_eq!(bounds().from_probe(0.0), bounds());
        assert_eq!(bounds().from_probe(f64::NAN), bounds());
        assert_eq!(
            bounds().from_probe(100.0).start,
            100.0_f64.max(bounds().min_rate)
        );
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

    /// Drives a [`Sweep`] against a system whose search points and confirmations may
    /// disagree (a noisy backend): `point(rate)` and `confirm(rate)` say what passes.
    fn drive_sweep(
        confirm_rounds: u32,
        point: impl Fn(f64) -> bool,
        confirm: impl Fn(f64) -> bool,
    ) -> (Sweep, Vec<(Phase, f64)>) {
        let mut s = Sweep::new(bounds(), confirm_rounds);
        let mut tried = Vec::new();
        while let Some((phase, rate)) = s.next() {
            tried.push((phase, rate));
            let passed = if phase == Phase::Confirm {
                confirm(rate)
            } else {
                point(rate)
            };
            s.record(phase, rate, passed);
            assert!(tried.len() < 100, "the sweep must end: {tried:?}");
        }
        (s, tried)
    }

    #[test]
    fn a_confirmation_that_holds_is_the_answer_and_ends_the_sweep() {
        let (s, tried) = drive_sweep(3, |r| r <= 12_000.0, |r| r <= 12_000.0);
        let found = s.confirmed().expect("confirmed");
        assert!(found <= 12_000.0 && s.search().precision() <= 0.05);
        assert_eq!(tried.last(), Some(&(Phase::Confirm, found)));
        assert_eq!(tried.iter().filter(|t| t.0 == Phase::Confirm).count(), 1);
    }

    #[test]
    fn failed_confirmations_step_down_until_one_holds() {
        // The committed quick run's tokio: single search points pass up to 14k, but the
        // confirmations (several repetitions) only hold up to 10.6k.
        let (s, tried) = drive_sweep(4, |r| r <= 14_000.0, |r| r <= 10_600.0);
        let found = s.confirmed().expect("a confirmation held");
        assert!(found <= 10_600.0, "{found} {tried:?}");
        assert_eq!(s.last_confirmation(), Some(found));
        // Every confirmation above the answer failed and none is reported.
        let confirms: Vec<f64> = tried
            .iter()
            .filter(|t| t.0 == Phase::Confirm)
            .map(|t| t.1)
            .collect();
        assert!(confirms.len() >= 2, "{tried:?}");
        assert!(confirms[..confirms.len() - 1].iter().all(|&c| c > 10_600.0));
        // Each confirmation is below the one before, by a growing step: 5%, 10%, 20%.
        let steps: Vec<f64> = confirms.windows(2).map(|w| 1.0 - w[1] / w[0]).collect();
        assert_eq!(steps.len(), 3, "{confirms:?}");
        for (got, want) in steps.iter().zip([0.05, 0.10, 0.20]) {
            assert!((got - want).abs() < 1e-9, "{steps:?}");
        }
        // The failed confirmations bound the answer from above.
        assert_eq!(s.search().lowest_fail(), Some(confirms[confirms.len() - 2]));
    }

    #[test]
    fn when_the_rounds_run_out_nothing_unconfirmed_is_called_confirmed() {
        // The bug: the highest pass was reported with the failed confirmation's figures.
        let (s, tried) = drive_sweep(2, |r| r <= 14_000.0, |_| false);
        assert_eq!(s.confirmed(), None);
        let confirms: Vec<f64> = tried
            .iter()
            .filter(|t| t.0 == Phase::Confirm)
            .map(|t| t.1)
            .collect();
        assert_eq!(confirms.len(), 2, "{tried:?}");
        // The result carries the last confirmation's rate, the one its figures belong to.
        assert_eq!(s.last_confirmation(), confirms.last().copied());
        // A system where nothing passes is never confirmed at all.
        let (s, tried) = drive_sweep(3, |_| false, |_| true);
        assert_eq!((s.confirmed(), s.last_confirmation()), (None, None));
        assert!(tried.iter().all(|t| t.0 == Phase::Ramp));
    }
}
