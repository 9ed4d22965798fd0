//! Starting herds as real processes, for the conformance suite and the load generator.
//!
//! A backend is known only by its manifest (`<folder>/backend.toml`): how to set it up,
//! build it and launch one server. [`Herd::start`] builds nothing itself; callers run
//! [`build`] first (once per process). It does run the manifest's `setup` (once per
//! process), which launching needs even when the binaries were built beforehand. It then
//! starts the places service, writes a config for the topology with free loopback ports,
//! launches every server, waits for each to say `listening on`, and waits until an update
//! at one server is visible at all the others, so a started herd is a working herd. Every process is killed when the [`Herd`] drops.
//!
//! It does not measure anything; that is the load generator's job. [`placement`] pins a
//! caller and the processes it starts to CPUs, for the load generator and the soak.

mod client;
mod herd;
mod manifest;
pub mod placement;
mod topology;

pub use client::Client;
pub use herd::{Herd, HerdSpec, PerServerConfig, PlacesSpec};
pub use manifest::{
    Maintenance, Manifest, Profile, build, build_places, discover, setup, target_dir,
    workspace_root,
};
pub use topology::{Topology, default_herd, line, mesh, ring, star};
