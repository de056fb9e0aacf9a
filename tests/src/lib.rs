//! Helpers shared by the end-to-end tests in `tests/`: finding (and, if
//! needed, building) the `kraftwerk` binary of this build and running it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The `kraftwerk` binary of this build (built on demand).
pub fn kraftwerk() -> PathBuf {
    // target/<profile>/deps/<test>-xxxx -> target/<profile>/kraftwerk
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("kraftwerk");
    if !bin.exists() {
        let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "kraftwerk-model", "--bin", "kraftwerk"]);
        if profile == "release" {
            cmd.arg("--release");
        }
        assert!(cmd.status().expect("cargo build").success());
    }
    bin
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
