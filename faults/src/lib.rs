//! Fault scenarios under client load, a lost-update checker, and a soak.
//!
//! The runner starts a backend's herd through `herd-launcher` with every server-to-server
//! link running through a `herd-chaos` proxy ([`proxied`]), offers open-loop IAMAT load
//! ([`load`]), and injects one kind of fault per scenario ([`scenario`]): `failover` (kill
//! -9 a server, restart it), `partition` (cut the links between two halves of the herd),
//! `flap` (a link that drops and returns every few hundred milliseconds). After each heal
//! the checker ([`checker`]) asks every server what it holds and compares it with what the
//! herd acknowledged: lost and stale updates, and the time until every server agreed. The
//! soak ([`soak`]) runs a steady mixed load and samples memory and descriptors from /proc.
//! Results are CSV files in a run directory ([`output`]), described in
//! docs/RELIABILITY-FAULTS.md.
//!
//! It is not a benchmark: figures depend on the machine's load, and each run is bounded in
//! time and count. All traffic stays on 127.0.0.0/8.

pub mod checker;
pub mod load;
pub mod output;
pub mod proxied;
pub mod scenario;
pub mod soak;

use std::time::Duration;

use load::LoadSpec;
use scenario::{Plan, Scenario};
use soak::SoakPlan;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// About 20 s per backend: 3 failovers, 3 partitions, 2 x 5 flaps; a 60 s soak.
    Quick,
    /// At least 100 faults per backend in about 90 s (10 failovers, 10 partitions, 8 x 10
    /// flaps); a 30-minute soak.
    Full,
}

/// The IAMAT load every fault scenario runs under.
pub fn fault_load(seed: u64) -> LoadSpec {
    LoadSpec {
        rate: 200.0,
        clients: 256,
        whatsat_share: 0.0,
        seed,
        connections_per_server: 1,
    }
}

/// A preset's plan for one scenario.
pub fn plan(preset: Preset, scenario: Scenario, seed: u64) -> Plan {
    let cycles = match (preset, scenario) {
        (Preset::Quick, Scenario::Flap) => 2,
        (Preset::Quick, _) => 3,
        (Preset::Full, Scenario::Flap) => 8,
        (Preset::Full, _) => 10,
    };
    // Drops are cheap (no restart, one convergence check per cycle), so the full preset
    // reaches 100 faults mostly through flaps and stays near 90 s per backend.
    let (flaps, flap_period) = match preset {
        Preset::Quick => (5, Duration::from_millis(150)),
        Preset::Full => (10, Duration::from_millis(150)),
    };
    Plan {
        cycles,
        hold: Duration::from_secs(1),
        flaps,
        flap_period,
        settle: Duration::from_millis(500),
        deadline: Duration::from_secs(10),
        load: fault_load(seed),
        anti_entropy: true,
    }
}

/// A preset's soak: mixed load (80% IAMAT, 20% WHATSAT, as loadgen's `mixed`).
pub fn soak_plan(preset: Preset, seed: u64) -> SoakPlan {
    let (duration, sample_every) = match preset {
        Preset::Quick => (Duration::from_secs(60), Duration::from_secs(2)),
        Preset::Full => (Duration::from_secs(30 * 60), Duration::from_secs(5)),
    };
    SoakPlan {
        duration,
        sample_every,
        places_latency: Duration::from_millis(20),
        load: LoadSpec {
            rate: 300.0,
            clients: 1_000,
            whatsat_share: 0.2,
            seed,
            // Set by the soak from its rate (`load::connections_for`).
            connections_per_server: 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_preset_injects_at_least_100_faults_per_backend() {
        let faults = |preset| -> usize {
            Scenario::ALL
                .iter()
                .map(|&s| {
                    let p = plan(preset, s, 1);
                    p.cycles * if s == Scenario::Flap { p.flaps } else { 1 }
                })
                .sum()
        };
        assert!(faults(Preset::Full) >= 100, "{}", faults(Preset::Full));
        assert!(faults(Preset::Quick) < faults(Preset::Full));
    }
}
