//! Builds the backends and the places service, and turns (backend, case) pairs into trials.

use herd_launcher::{Profile, build, build_places, discover, workspace_root};
use libtest_mimic::{Failed, Trial};

use crate::{Ctx, cases};

/// One trial per (backend, case), named `<backend>::<case>`. Fails if there is no backend
/// at all: a suite that runs nothing must not pass.
pub fn trials(profile: Profile, backend: Option<&str>) -> anyhow::Result<Vec<Trial>> {
    let root = workspace_root()?;
    let manifests: Vec<_> = discover(&root)?
        .into_iter()
        .filter(|m| backend.is_none_or(|b| b == m.name))
        .collect();
    anyhow::ensure!(
        !manifests.is_empty(),
        "no backend manifests found under {} (looked for */backend.toml)",
        root.display()
    );
    build_places(&root, profile)?;
    let mut trials = Vec::new();
    for manifest in manifests {
        build(&root, &manifest, profile)?;
        for case in cases() {
            let ctx = Ctx {
                root: root.clone(),
                manifest: manifest.clone(),
                profile,
            };
            trials.push(Trial::test(
                format!("{}::{}", manifest.name, case.name),
                move || (case.run)(&ctx).map_err(|e| Failed::from(format!("{e:#}"))),
            ));
        }
    }
    Ok(trials)
}
