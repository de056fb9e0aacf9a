//! `kraftwerk explore`: the one-line refusals (a `ui/` folder in the
//! working directory, an address in use), and the Explorer in a real
//! headless browser (tests/browser/explorer.test.mjs, driven by
//! playwright-core).
//!
//! The browser test needs `node`, `/usr/bin/chromium` and
//! `tests/browser/node_modules` (`.ci/install-browser.sh` installs them).
//! Without them it is skipped with a message, except when the `CI`
//! environment variable is set: then it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kraftwerk_tests::{assert_usage_error, kraftwerk};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A free port on 127.0.0.1 (free when this returns).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A fresh empty directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = workspace()
        .join("target")
        .join("explorer-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Kills a child by PID when dropped, so a failing test leaves no server.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `kraftwerk explore` expecting it to exit at once; returns (code,
/// stderr).
fn explore_refused(cwd: &Path, addr: &str) -> (Option<i32>, String) {
    let child = Command::new(kraftwerk())
        .args(["explore", "--protocol", "raft", "--addr", addr])
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kraftwerk");
    let mut guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = guard.0.try_wait().expect("wait") {
            let mut err = String::new();
            use std::io::Read;
            guard
                .0
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut err)
                .expect("read stderr");
            return (status.code(), err);
        }
        assert!(
            Instant::now() < deadline,
            "kraftwerk explore kept running instead of refusing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_ui_directory_in_the_working_directory_is_refused() {
    let dir = scratch("ui");
    std::fs::create_dir(dir.join("ui")).expect("mkdir ui");
    let addr = format!("127.0.0.1:{}", free_port());
    let (code, err) = explore_refused(&dir, &addr);
    assert_usage_error(code, &err, "ui/");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_address_in_use_or_malformed_is_refused() {
    let dir = scratch("addr");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (code, err) = explore_refused(&dir, &addr);
    assert_usage_error(code, &err, &addr);
    let (code, err) = explore_refused(&dir, "no-such-address");
    assert_usage_error(code, &err, "no-such-address");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the browser test needs that may be missing, if anything.
fn missing_browser_tools(browser_dir: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.map(|s| s.success()).unwrap_or(false) {
        missing.push("node".to_string());
    }
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium".to_string());
    }
    if !browser_dir
        .join("node_modules")
        .join("playwright-core")
        .exists()
    {
        missing.push(format!("{}/node_modules", browser_dir.display()));
    }
    missing
}

#[test]
fn the_explorer_in_a_browser_finds_and_shows_a_counterexample() {
    let browser_dir = workspace().join("tests").join("browser");
    let missing = missing_browser_tools(&browser_dir);
    if !missing.is_empty() {
        let msg = format!(
            "browser test needs {} (run .ci/install-browser.sh)",
            missing.join(", ")
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg}; CI is set, so this is a failure, not a skip");
        }
        println!("SKIPPED: {msg}");
        return;
    }
    let bin = kraftwerk();
    let work = scratch("browser");
    let screenshot = workspace().join("target").join("explorer.png");
    let _ = std::fs::remove_file(&screenshot);
    let (port1, port2) = (free_port(), free_port());
    let child = Command::new("node")
        .arg(browser_dir.join("explorer.test.mjs"))
        .current_dir(&browser_dir)
        .env("KRAFTWERK", &bin)
        .env("PORT1", port1.to_string())
        .env("PORT2", port2.to_string())
        .env("SCREENSHOT", &screenshot)
        .env("WORKDIR", &work)
        .spawn()
        .expect("run node");
    // The script kills its servers itself; this guard bounds the script.
    let mut guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = guard.0.try_wait().expect("wait for node") {
            break s;
        }
        assert!(Instant::now() < deadline, "browser test timed out");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "browser test failed: {status}");
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
    println!("screenshot: {}", screenshot.display());
    let _ = std::fs::remove_dir_all(&work);
}
