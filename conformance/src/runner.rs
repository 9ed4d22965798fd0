//! Builds the backends and the places service, and turns (backend, case) pairs into trials.

use herd_launcher::{Profile, build, build_places, discover, workspace_root};
use libtest_mimic::{Completion, Failed, Trial};

use crate::hostile::Gap;
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
            let gap = crate::hostile::known_gap(&manifest.name, case.name);
            let trial = Trial::ignorable_test(
                format!("{}::{}", manifest.name, case.name),
                move || match ((case.run)(&ctx), gap) {
                    (Ok(()), None) => Ok(Completion::Completed),
                    (Err(e), None) => Err(Failed::from(format!("{e:#}"))),
                    (Err(e), Some((_, why))) => Ok(Completion::ignored_with(format!(
                        "known gap, still failing: {why} ({e:#})"
                    ))),
                    (Ok(()), Some((Gap::UnderLoad, _))) => Ok(Completion::Completed),
                    (Ok(()), Some((Gap::Always, _))) => Err(Failed::from(
                        "a known gap passes now: remove it from KNOWN_GAPS in conformance/src/hostile/mod.rs",
                    )),
                },
            );
            trials.push(if gap.is_some() {
                trial.with_kind("known gap")
            } else {
                trial
            });
        }
    }
    Ok(trials)
}
