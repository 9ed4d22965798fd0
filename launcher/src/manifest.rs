//! Backend manifests: discovery, placeholder expansion, setting up and building.
//!
//! A manifest says how to prepare a backend and how to launch one server. Preparing has two
//! optional steps, both run once per process from the workspace root: `setup` (once, for
//! any profile: create a virtual environment, install a lockfile's packages) and `build`
//! (once per profile: `cargo build`). A backend in an interpreted language has no build; it
//! names the programs it needs on PATH in `requires`, so a missing interpreter is a clear
//! error rather than a failed spawn. Nothing here knows any backend by name.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// What a backend's `backend.toml` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub language: String,
    pub runtime: String,
    /// Crates that make up the runtime (their versions come from Cargo.lock).
    #[serde(default)]
    pub runtime_crates: Vec<String>,
    /// Programs that must be on PATH before setup, build or launch (e.g. `python3`).
    #[serde(default)]
    pub requires: Vec<String>,
    /// Run once per process before the first build (any profile); empty for none.
    #[serde(default)]
    pub setup: Vec<String>,
    /// Run once per process and profile; empty for a backend with nothing to compile.
    #[serde(default)]
    pub build: Vec<String>,
    pub launch: Vec<String>,
    /// What `--threads` means for this runtime.
    pub threads: String,
    pub maintenance: Maintenance,
    /// The folder the manifest was found in (set by [`discover`]).
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// `maintained`, `discontinued`, ...
    pub status: String,
    pub since: Option<String>,
    pub advisory: Option<String>,
    pub note: Option<String>,
}

/// A cargo profile the herd is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Dev,
    Release,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Dev => "dev",
            Profile::Release => "release",
        }
    }

    /// The folder below the target dir that holds this profile's binaries.
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Dev => "debug",
            Profile::Release => "release",
        }
    }
}

/// The workspace root: the nearest ancestor of this crate (or of the current directory)
/// whose Cargo.toml declares `[workspace]`.
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    let starts = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::env::current_dir()?,
    ];
    for start in starts {
        for dir in start.ancestors() {
            let toml = dir.join("Cargo.toml");
            if std::fs::read_to_string(&toml).is_ok_and(|t| t.contains("[workspace]")) {
                return Ok(dir.to_path_buf());
            }
        }
    }
    bail!(
        "no Cargo workspace above {} or the current directory",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Every `*/backend.toml` one level below `root`, sorted by backend name.
pub fn discover(root: &Path) -> anyhow::Result<Vec<Manifest>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("listing {}", root.display()))? {
        let dir = entry?.path();
        let path = dir.join("backend.toml");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut manifest: Manifest = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid backend manifest", path.display()))?;
        if manifest.launch.is_empty() {
            bail!("{}: launch must not be empty", path.display());
        }
        manifest.dir = dir;
        found.push(manifest);
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Values for a manifest's placeholders.
#[derive(Debug, Clone)]
pub(crate) struct Vars<'a> {
    pub profile: Profile,
    pub bin_dir: &'a Path,
    pub config: &'a Path,
    pub server: &'a str,
    pub threads: usize,
    pub log_dir: Option<&'a Path>,
}

/// Expands `{placeholders}` in an argv template; `{log_args}` becomes `--log-dir DIR` or
/// `--no-log`, and `{target_dir}` is the folder above `{bin_dir}` (the cargo target dir,
/// where setup steps keep what they install).
pub(crate) fn expand(template: &[String], vars: &Vars<'_>) -> Vec<String> {
    let mut argv = Vec::with_capacity(template.len() + 1);
    for item in template {
        if item == "{log_args}" {
            match vars.log_dir {
                Some(dir) => argv.extend(["--log-dir".to_owned(), dir.display().to_string()]),
                None => argv.push("--no-log".to_owned()),
            }
            continue;
        }
        let target = vars.bin_dir.parent().unwrap_or(vars.bin_dir);
        argv.push(
            item.replace("{profile}", vars.profile.name())
                .replace("{target_dir}", &target.display().to_string())
                .replace("{bin_dir}", &vars.bin_dir.display().to_string())
                .replace("{config}", &vars.config.display().to_string())
                .replace("{server}", vars.server)
                .replace("{threads}", &vars.threads.to_string()),
        );
    }
    argv
}

fn run_once(key: String, root: &Path, argv: &[String]) -> anyhow::Result<()> {
    static DONE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    // Held across the build so two threads never build the same thing at once.
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    if done.contains(&key) {
        return Ok(());
    }
    let (program, args) = argv.split_first().context("empty build command")?;
    // A relative program (e.g. `scripts/setup-venv`) is taken from the workspace root.
    let program = if program.contains('/') {
        root.join(program)
    } else {
        PathBuf::from(program)
    };
    let status = Command::new(&program)
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !status.success() {
        bail!("{key} failed ({status}): {}", argv.join(" "));
    }
    done.insert(key);
    Ok(())
}

/// Whether `program` can be run: a path that exists, or a bare name found on PATH.
fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Errors, naming the manifest and the program, if something it `requires` is missing.
fn check_requires(manifest: &Manifest) -> anyhow::Result<()> {
    let missing: Vec<&str> = manifest
        .requires
        .iter()
        .map(String::as_str)
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        bail!(
            "backend {} ({}/backend.toml) needs {} on PATH; scripts/install-interpreters installs them with apt-get",
            manifest.name,
            manifest.dir.display(),
            missing.join(", ")
        );
    }
    Ok(())
}

fn prepare_vars(bin_dir: &Path, profile: Profile) -> Vars<'_> {
    Vars {
        profile,
        bin_dir,
        config: Path::new(""),
        server: "",
        threads: 1,
        log_dir: None,
    }
}

/// Checks `requires` and runs the manifest's `setup` once per process (any profile). A
/// herd runs it before launching, so a run that skips building still gets it.
pub fn setup(root: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    check_requires(manifest)?;
    if manifest.setup.is_empty() {
        return Ok(());
    }
    let bin_dir = target_dir(root).join(Profile::Dev.dir());
    run_once(
        format!("{}/setup", manifest.name),
        root,
        &expand(&manifest.setup, &prepare_vars(&bin_dir, Profile::Dev)),
    )
}

/// Prepares a backend: [`setup`], then `build` once per process and profile (either may be
/// empty).
pub fn build(root: &Path, manifest: &Manifest, profile: Profile) -> anyhow::Result<()> {
    setup(root, manifest)?;
    let bin_dir = target_dir(root).join(profile.dir());
    let vars = prepare_vars(&bin_dir, profile);
    if manifest.build.is_empty() {
        return Ok(());
    }
    run_once(
        format!("{}/{}", manifest.name, profile.name()),
        root,
        &expand(&manifest.build, &vars),
    )
}

/// Builds the places service, once per process and profile.
pub fn build_places(root: &Path, profile: Profile) -> anyhow::Result<()> {
    let argv: Vec<String> = [
        "cargo",
        "build",
        "--profile",
        profile.name(),
        "-p",
        "places",
    ]
    .map(String::from)
    .into();
    run_once(format!("places/{}", profile.name()), root, &argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_placeholders() {
        let template: Vec<String> = [
            "{bin_dir}/herd-x",
            "--config",
            "{config}",
            "--name",
            "{server}",
            "--threads",
            "{threads}",
            "{log_args}",
            "p={profile}",
        ]
        .map(String::from)
        .into();
        let mut vars = Vars {
            profile: Profile::Release,
            bin_dir: Path::new("/t/release"),
            config: Path::new("/c/herd.toml"),
            server: "Clark",
            threads: 2,
            log_dir: Some(Path::new("/logs")),
        };
        assert_eq!(
            expand(&template, &vars),
            [
                "/t/release/herd-x",
                "--config",
                "/c/herd.toml",
                "--name",
                "Clark",
                "--threads",
                "2",
                "--log-dir",
                "/logs",
                "p=release"
            ]
        );
        vars.log_dir = None;
        assert_eq!(expand(&template, &vars)[7], "--no-log");
    }

    #[test]
    fn discovers_the_four_backends_of_this_workspace() {
        let root = workspace_root().expect("root");
        let names: Vec<String> = discover(&root)
            .expect("valid manifests")
            .into_iter()
            .map(|m| m.name)
            .collect();
        for backend in ["async-std", "smol", "threads", "tokio"] {
            assert!(
                names.iter().any(|n| n == backend),
                "{backend} missing from {names:?}"
            );
        }
    }

    #[test]
    fn target_dir_is_the_folder_above_bin_dir() {
        let vars = Vars {
            profile: Profile::Dev,
            bin_dir: Path::new("/t/debug"),
            config: Path::new(""),
            server: "",
            threads: 1,
            log_dir: None,
        };
        let template = ["{target_dir}/venv/bin/python".to_owned()];
        assert_eq!(expand(&template, &vars), ["/t/venv/bin/python"]);
    }

    #[test]
    fn backends_in_other_languages_have_no_cargo_build() {
        let root = workspace_root().expect("root");
        let all = discover(&root).expect("valid manifests");
        for backend in ["asyncio", "uvloop", "node"] {
            let m = all
                .iter()
                .find(|m| m.name == backend)
                .unwrap_or_else(|| panic!("{backend} missing"));
            assert_ne!(m.language, "Rust", "{backend}");
            assert!(m.build.is_empty(), "{backend} builds nothing");
            assert!(!m.requires.is_empty(), "{backend} names its interpreter");
        }
    }

    fn scratch_manifest(dir: &Path, body: &str) -> Manifest {
        std::fs::create_dir_all(dir.join("herd-x")).expect("mkdir");
        std::fs::write(dir.join("herd-x/backend.toml"), body).expect("write");
        discover(dir).expect("valid").remove(0)
    }

    const SCRATCH: &str = "name = \"x\"\nlanguage = \"Shell\"\nruntime = \"sh\"\nthreads = \"one\"\n\
        launch = [\"sh\"]\n[maintenance]\nstatus = \"maintained\"\n";

    #[test]
    fn setup_runs_once_per_process_and_a_missing_program_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let count = dir.path().join("count");
        let setup = format!(
            "setup = [\"sh\", \"-c\", \"echo run >> {}\"]\n",
            count.display()
        );
        let manifest = scratch_manifest(dir.path(), &format!("{setup}{SCRATCH}"));
        build(dir.path(), &manifest, Profile::Dev).expect("setup runs");
        build(dir.path(), &manifest, Profile::Release).expect("and is not repeated");
        let runs = std::fs::read_to_string(&count).expect("setup wrote");
        assert_eq!(runs.lines().count(), 1, "{runs:?}");

        let missing = scratch_manifest(
            dir.path(),
            &format!("requires = [\"no-such-interpreter-4711\"]\n{SCRATCH}"),
        );
        let err = build(dir.path(), &missing, Profile::Dev).expect_err("missing program");
        assert!(
            format!("{err:#}").contains("no-such-interpreter-4711"),
            "{err:#}"
        );
    }

    #[test]
    fn a_bad_manifest_is_an_error_naming_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("herd-bad")).expect("mkdir");
        std::fs::write(dir.path().join("herd-bad/backend.toml"), "name = 3\n").expect("write");
        let err = discover(dir.path()).expect_err("invalid");
        assert!(
            format!("{err:#}").contains("herd-bad/backend.toml"),
            "{err:#}"
        );
    }
}
