//! Helpers shared by the end-to-end tests in `tests/`: finding (and, if
//! needed, building) the `kraftwerk` binary of this build and running it;
//! [`node`] does the same for `kraftwerk-node` and runs real clusters.

pub mod bench;
pub mod linearizability;
pub mod nemesis;
pub mod node;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `kraftwerk` binary of this build, rebuilt once per test process if
/// out of date (cargo does not build another package's binaries for a
/// test, and a stale binary would test old code).
pub fn kraftwerk() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_binary("kraftwerk-model", "kraftwerk"))
        .clone()
}

/// Builds `bin` of `package` in this test's profile (quietly; cargo does
/// nothing when it is up to date) and returns its path.
pub fn build_binary(package: &str, bin: &str) -> PathBuf {
    // target/<profile>/deps/<test>-xxxx -> target/<profile>/<bin>
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "-p", package, "--bin", bin]);
    // The variables cargo sets for this test (package name, manifest dir,
    // ...) are not in the outer build's environment; ring's build script
    // watches some, so passing them on would rebuild ring and all that
    // depends on it, once here and again in the next outer build.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let per_test = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || name == "CARGO_PRIMARY_PACKAGE"
            || name == "CARGO_TARGET_TMPDIR";
        if per_test {
            cmd.env_remove(&*name);
        }
    }
    if profile == "release" {
        cmd.arg("--release");
    }
    assert!(cmd.status().expect("cargo build").success());
    dir.join(bin)
}

/// Asserts the command-line contract for bad usage: exit 2 and exactly one
/// line on stderr, `kraftwerk: error: ...`, that mentions `needle`.
pub fn assert_usage_error(code: Option<i32>, stderr: &str, needle: &str) {
    assert_eq!(code, Some(2), "exit code, stderr: {stderr}");
    assert!(stderr.starts_with("kraftwerk: error: "), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(needle),
        "stderr mentions {needle:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

/// Runs `kraftwerk` with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(kraftwerk())
        .args(args)
        .output()
        .expect("run kraftwerk")
}

/// The JSON object on the last line of stdout.
pub fn last_json(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("some output");
    serde_json::from_str(last).expect("last line is JSON")
}
