# Sourced by the scripts: where cargo puts binaries, honouring CARGO_TARGET_DIR and
# build.target-dir (asked of cargo itself; --no-deps needs no download).
target_dir() {
  cargo metadata --no-deps --format-version 1 --locked \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}
