//! The fault scenarios and the loop that runs one against one backend.
//!
//! Every cycle: client load runs, a fault is injected and held, the fault heals, the load
//! pauses (replies already due still count) so the acknowledged state stops moving, and
//! the checker waits for every server to hold it. Then the load resumes for a moment before
//! the next fault. Pausing at the heal keeps each check strict: an update acknowledged
//! during the fault cannot be hidden by a newer one written after it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use herd_chaos::Direction;
use herd_launcher::{Manifest, Profile, Topology};

use crate::checker::{Observer, Tally};
use crate::load::{History, Load, LoadSpec, Rng};
use crate::proxied::ProxiedHerd;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    /// kill -9 one server (each in turn), restart it after `hold`.
    Failover,
    /// Cut every link between a random set of servers (at most half) and the rest; heal
    /// after `hold`.
    Partition,
    /// One link (each in turn) drops and returns every `flap_period`, `flaps` times a cycle.
    Flap,
    /// Everything one server (each in turn) sends to its neighbours is discarded for `hold`
    /// while the links stay open, then the cut heals. Not in the default set: the protocol
    /// has no heartbeat, so this is expected to lose updates (see the docs).
    OneWay,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::Failover, Scenario::Partition, Scenario::Flap];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Failover => "failover",
            Scenario::Partition => "partition",
            Scenario::Flap => "flap",
            Scenario::OneWay => "one-way",
        }
    }
}

/// How much of a scenario to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cycles: usize,
    /// How long a kill or partition lasts.
    pub hold: Duration,
    /// Drops per flap cycle, and the time the link spends down (and then up) each time.
    pub flaps: usize,
    pub flap_period: Duration,
    /// Load alone before the first fault and between faults.
    pub settle: Duration,
    /// Longest wait for convergence after a heal before counting what is behind.
    pub deadline: Duration,
    pub load: LoadSpec,
    /// Off only to prove the checker fails without it.
    pub anti_entropy: bool,
}

/// One cycle: what was done and how the herd recovered.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub what: String,
    pub faults: usize,
    /// Since the scenario's load started: the first injection and the heal.
    pub injected: Duration,
    pub healed: Duration,
    pub recovered: Option<Duration>,
    pub tally: Tally,
    /// The servers that acknowledged the lost updates (one entry per update, sorted).
    pub lost_acked_by: Vec<String>,
}

/// A scenario's whole run against one backend.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub backend: String,
    pub scenario: Scenario,
    pub cycles: Vec<Cycle>,
    /// IAMATs acknowledged over the run.
    pub acked: u64,
    pub sent: u64,
    pub failed: u64,
    pub anti_entropy: bool,
}

impl Outcome {
    pub fn faults(&self) -> usize {
        self.cycles.iter().map(|c| c.faults).sum()
    }

    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for c in &self.cycles {
            t += c.tally;
        }
        t
    }
}

/// Starts the herd, runs `plan.cycles` cycles of `scenario` under load, stops everything.
pub fn run(
    root: &Path,
    manifest: &Manifest,
    profile: Profile,
    topology: Topology,
    scenario: Scenario,
    plan: &Plan,
) -> anyhow::Result<Outcome> {
    let mut herd = ProxiedHerd::start(root, manifest, profile, topology, plan.anti_entropy)
        .with_context(|| format!("starting the {} herd", manifest.name))?;
    let names: Vec<String> = herd.herd.names().map(str::to_owned).collect();
    let addrs = names
        .iter()
        .map(|n| herd.herd.addr(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let history = Arc::new(History::new(plan.load.clients));
    let load = Load::start(&plan.load, &addrs, Arc::clone(&history));
    let started = Instant::now();
    let mut observer = Observer::new(addrs);
    let mut rng = Rng::new(plan.load.seed.wrapping_add(scenario as u64));
    let mut cycles = Vec::with_capacity(plan.cycles);
    for i in 0..plan.cycles {
        // Scenario timing, not synchronisation: the load runs on its own meanwhile.
        std::thread::sleep(plan.settle);
        let injected = started.elapsed();
        let (what, faults) = inject(&mut herd, scenario, plan, i, &names, &mut rng)
            .with_context(|| format!("{} cycle {i}", scenario.name()))?;
        let healed = Instant::now();
        load.pause();
        let acked = history.acked();
        let convergence = observer.converge(&acked, healed, plan.deadline);
        herd.herd.check_alive()?;
        let mut lost_acked_by: Vec<String> = convergence
            .lost
            .iter()
            .filter_map(|&c| history.acked_by(c))
            .collect();
        lost_acked_by.sort();
        cycles.push(Cycle {
            what,
            faults,
            injected,
            healed: healed.duration_since(started),
            recovered: convergence.recovered,
            tally: convergence.tally,
            lost_acked_by,
        });
        load.resume();
    }
    load.stop();
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Outcome {
        backend: manifest.name.clone(),
        scenario,
        cycles,
        acked: count(&history.acks),
        sent: count(&history.sent),
        failed: count(&history.failed),
        anti_entropy: plan.anti_entropy,
    })
}

/// Injects one cycle's fault, holds it, and heals it. Returns what was done and how many
/// faults that was.
fn inject(
    herd: &mut ProxiedHerd,
    scenario: Scenario,
    plan: &Plan,
    cycle: usize,
    names: &[String],
    rng: &mut Rng,
) -> anyhow::Result<(String, usize)> {
    match scenario {
        Scenario::Failover => {
            let victim = &names[cycle % names.len()];
            herd.herd.kill(victim)?;
            std::thread::sleep(plan.hold);
            herd.herd.restart(victim)?;
            Ok((format!("kill -9 {victim}"), 1))
        }
        Scenario::Partition => {
            let side = split(names, rng);
            let cut: Vec<_> = herd
                .links()
                .filter(|(a, b)| side.contains(a) != side.contains(b))
                .cloned()
                .collect();
            for link in &cut {
                herd.proxy(link)?.drop_link();
            }
            std::thread::sleep(plan.hold);
            herd.heal_all();
            let rest: Vec<&str> = names
                .iter()
                .filter(|n| !side.contains(n))
                .map(String::as_str)
                .collect();
            let what = format!(
                "{} | {} ({} links)",
                side.join(" "),
                rest.join(" "),
                cut.len()
            );
            Ok((what, 1))
        }
        Scenario::Flap => {
            let links: Vec<_> = herd.links().cloned().collect();
            let link = &links[cycle % links.len()];
            let proxy = herd.proxy(link)?;
            for _ in 0..plan.flaps {
                proxy.drop_link();
                std::thread::sleep(plan.flap_period);
                proxy.heal();
                std::thread::sleep(plan.flap_period);
            }
            Ok((format!("{}-{} x{}", link.0, link.1, plan.flaps), plan.flaps))
        }
        Scenario::OneWay => {
            let victim = &names[cycle % names.len()];
            let outbound: Vec<_> = herd
                .links()
                .filter_map(|l| {
                    // The dialler's bytes go to the target; the acceptor's come back.
                    let from_victim = if &l.0 == victim {
                        Direction::ToTarget
                    } else if &l.1 == victim {
                        Direction::FromTarget
                    } else {
                        return None;
                    };
                    Some((l.clone(), from_victim))
                })
                .collect();
            for (link, direction) in &outbound {
                herd.proxy(link)?.cut(*direction);
            }
            std::thread::sleep(plan.hold);
            herd.heal_all();
            Ok((format!("{victim} unheard ({} links)", outbound.len()), 1))
        }
    }
}

/// A random non-empty proper subset of `names` (at most half of them, so "the" side is
/// the smaller one).
fn split(names: &[String], rng: &mut Rng) -> Vec<String> {
    let n = names.len();
    let size = 1 + rng.below((n / 2).max(1));
    let mut pool: Vec<String> = names.to_vec();
    let mut side = Vec::with_capacity(size);
    while side.len() < size && !pool.is_empty() {
        side.push(pool.swap_remove(rng.below(pool.len())));
    }
    side.sort();
    side
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_proper_and_vary() {
        let names: Vec<String> = ["A", "B", "C", "D", "E"].map(String::from).into();
        let mut rng = Rng::new(3);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let side = split(&names, &mut rng);
            assert!((1..=2).contains(&side.len()), "{side:?}");
            seen.insert(side);
        }
        // 5 singletons + 10 pairs.
        assert_eq!(seen.len(), 15);
    }
}
