//! `kraftwerk-bench` end to end: a tiny run against real kraftwerk and etcd
//! clusters prints the whole table; an interrupted run leaves no process
//! behind; bad usage and a missing etcd are one-line errors. No assertion
//! here depends on how fast anything is.

use kraftwerk_tests::node::{kraftwerk_node, wait_for};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BENCH: &str = env!("CARGO_BIN_EXE_kraftwerk-bench");

fn bench(args: &[&str]) -> Output {
    Command::new(BENCH)
        .args(args)
        .output()
        .expect("run kraftwerk-bench")
}

/// Processes whose command line names a data directory of the bench run
/// `pid` (`$TMPDIR/kraftwerk-<tag>-<pid>-<n>`).
fn processes_of_run(pid: u32) -> Vec<String> {
    let prefix = std::env::temp_dir().join("kraftwerk-");
    let prefix = prefix.to_string_lossy().into_owned();
    let mark = format!("-{pid}-");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args
            .iter()
            .any(|a| a.contains(&prefix) && a.contains(&mark))
        {
            found.push(args.join(" "));
        }
    }
    found
}

/// Directories the run `pid` left in the temp dir.
fn dirs_of_run(pid: u32) -> Vec<PathBuf> {
    let mark = format!("-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kraftwerk-") && n.contains(&mark))
        })
        .collect()
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

fn number(cell: &str, what: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("{what} is not a number: {cell:?}"))
}

#[test]
fn a_tiny_run_prints_every_row_for_raft_kraft_and_etcd() {
    let node = kraftwerk_node();
    let child = Command::new(BENCH)
        .args(["--clients", "1,4", "--requests", "40", "--value-size", "64"])
        .args(["--rounds", "2"])
        .args(["--protocols", "raft,kraft,etcd", "--node-bin"])
        .arg(&node)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kraftwerk-bench");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for kraftwerk-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    let table: Vec<&str> = stdout.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 4, "header, rule, two rows:\n{stdout}");
    let head = cells(table[0]);
    let expected_head = [
        "clients",
        "raft puts/s",
        "raft p50 ms",
        "raft p99 ms",
        "kraft puts/s",
        "kraft p50 ms",
        "kraft p99 ms",
        "etcd puts/s",
        "etcd p50 ms",
        "etcd p99 ms",
        "raft/etcd",
        "kraft/etcd",
    ];
    assert_eq!(head, expected_head, "{stdout}");
    for (row, clients) in table[2..].iter().zip(["1", "4"]) {
        let c = cells(row);
        assert_eq!(c.len(), head.len(), "{row}");
        assert_eq!(c[0], clients, "{row}");
        let mut rate = Vec::new();
        for (k, system) in ["raft", "kraft", "etcd"].iter().enumerate() {
            let puts = number(&c[1 + 3 * k], "puts/s");
            let p50 = number(&c[2 + 3 * k], "p50");
            let p99 = number(&c[3 + 3 * k], "p99");
            assert!(puts > 0.0, "{system} puts/s: {row}");
            assert!(p50 > 0.0 && p50 <= p99, "{system} p50 <= p99: {row}");
            rate.push(puts);
        }
        // The ratios are the printed rates' ratios (up to their rounding).
        for (k, ratio) in [number(&c[10], "raft/etcd"), number(&c[11], "kraft/etcd")]
            .into_iter()
            .enumerate()
        {
            let want = rate[k] / rate[2];
            assert!(
                (ratio - want).abs() <= 0.01 + want * 0.01,
                "ratio {ratio} vs {want}: {row}"
            );
        }
    }
    // One progress line per point and round, each with every request.
    for system in ["raft", "kraft", "etcd"] {
        for clients in [1, 4] {
            let mark = format!("# {system} clients={clients} requests=40 ");
            let n = stdout.lines().filter(|l| l.starts_with(&mark)).count();
            assert_eq!(n, 2, "{mark:?} once per round in\n{stdout}");
        }
    }
    assert!(
        processes_of_run(pid).is_empty(),
        "{:?}",
        processes_of_run(pid)
    );
    assert!(dirs_of_run(pid).is_empty(), "{:?}", dirs_of_run(pid));
}

#[test]
fn sigterm_stops_every_process_the_run_started() {
    let node = kraftwerk_node();
    let child = Command::new(BENCH)
        .args(["--clients", "4", "--requests", "100000000"])
        .args(["--protocols", "raft", "--node-bin"])
        .arg(&node)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kraftwerk-bench");
    let pid = child.id();
    // All three nodes are up (the run is then starting or measuring).
    wait_for(Duration::from_secs(30), "the cluster's three nodes", || {
        (processes_of_run(pid).len() == 3).then_some(())
    });
    // SAFETY: kill(2) on our own child's pid; it has not been reaped yet.
    let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "kill -TERM {pid}");
    let out = child.wait_with_output().expect("wait for kraftwerk-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("kraftwerk-bench: error: interrupted by SIGTERM"),
        "{stderr}"
    );
    assert!(
        processes_of_run(pid).is_empty(),
        "{:?}",
        processes_of_run(pid)
    );
    assert!(dirs_of_run(pid).is_empty(), "{:?}", dirs_of_run(pid));
}

fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("kraftwerk-bench: error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing ran");
}

#[test]
fn bad_usage_is_a_one_line_error() {
    assert_one_line_error(&bench(&["--clients", "0"]), "--clients");
    assert_one_line_error(&bench(&["--clients", "a"]), "--clients");
    assert_one_line_error(&bench(&["--clients", "8", "--requests", "4"]), "--requests");
    assert_one_line_error(&bench(&["--value-size", "0"]), "--value-size");
    assert_one_line_error(&bench(&["--protocols", "zab"]), "zab");
    assert_one_line_error(
        &bench(&[
            "--protocols",
            "raft",
            "--node-bin",
            "/nonexistent/kraftwerk-node",
        ]),
        "/nonexistent/kraftwerk-node",
    );
}

#[test]
fn a_missing_etcd_says_how_to_install_it() {
    let empty = std::env::temp_dir().join(format!("kraftwerk-bench-nopath-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("empty dir");
    let out = Command::new(BENCH)
        .args(["--protocols", "etcd"])
        .env("PATH", &empty)
        .output()
        .expect("run kraftwerk-bench");
    let _ = std::fs::remove_dir(&empty);
    assert_one_line_error(&out, "apt-get install -y etcd-server etcd-client");
    let out = bench(&["--protocols", "etcd", "--etcd-bin", "/nonexistent/etcd"]);
    assert_one_line_error(&out, "apt-get install -y etcd-server etcd-client");
}
