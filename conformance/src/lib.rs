//! The conformance suite: what every herd backend must do, written once.
//!
//! Each case is a plain function over a [`Ctx`] naming one backend; it starts the herd it
//! needs through `herd-launcher` (real processes, free loopback ports) and talks to it with
//! the launcher's blocking client. `tests/backends.rs` runs every case against every backend
//! that has a manifest, so a new backend gets the whole suite by adding its
//! `backend.toml`; the `conformance` binary does the same with a table of results.
//!
//! It checks behaviour, not speed: no case asserts a duration beyond generous bounds that
//! separate "answered" from "hung".

mod commands;
mod failures;
mod flooding;
mod hostile;
mod invalid;
mod runner;

pub use runner::trials;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::ensure;
use herd_launcher::{Herd, HerdSpec, Manifest, PlacesSpec, Profile, default_herd};
use herd_protocol::Nanos;
use herd_protocol::message::format_client_time;

/// The backend under test.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub root: PathBuf,
    pub manifest: Manifest,
    pub profile: Profile,
}

/// One named check.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub run: fn(&Ctx) -> anyhow::Result<()>,
}

/// Every case, in a stable order.
pub fn cases() -> Vec<Case> {
    [
        commands::CASES,
        invalid::CASES,
        flooding::CASES,
        failures::CASES,
        &hostile::cases(),
    ]
    .concat()
}

/// The names of the hostile cases (hostile clients and a hostile places service).
pub fn hostile_names() -> Vec<&'static str> {
    hostile::cases().iter().map(|c| c.name).collect()
}

impl Ctx {
    /// The default five-server herd with a places service that answers at once.
    pub fn herd(&self) -> anyhow::Result<Herd> {
        self.herd_with(
            PlacesSpec::Service {
                latency: "0".into(),
                error_rate: 0.0,
                seed: 1,
            },
            5_000,
        )
    }

    pub fn herd_with(&self, places: PlacesSpec, places_timeout_ms: u64) -> anyhow::Result<Herd> {
        let mut spec = HerdSpec::new(
            self.manifest.clone(),
            default_herd(&self.root)?,
            self.profile,
        );
        spec.places = places;
        spec.places_timeout_ms = places_timeout_ms;
        Herd::start(&self.root, spec)
    }
}

/// A client time `offset_secs` from now, as a client would send it.
pub(crate) fn time_from_now(offset_secs: i64) -> String {
    let now = Nanos::from_system_time(SystemTime::now());
    format_client_time(Nanos(
        now.0 + i128::from(offset_secs) * Nanos::NANOS_PER_SEC,
    ))
}

/// Retries `check` until it holds or `limit` passes; flooding is asynchronous.
pub(crate) fn eventually(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if check()? {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}
