//! The `kraftwerk` command line as a user runs it: exit codes, the table,
//! the `--json` line, one-line usage errors, counterexample traces.

use kraftwerk_tests::{assert_usage_error, last_json, run};

/// The protocol as published (8,610 states); production's leader no-op
/// makes the same bounds 353,330.
const SMALL: &[&str] = &[
    "check",
    "--config",
    "figure2",
    "--servers",
    "3",
    "--max-term",
    "1",
    "--crashes",
    "0",
    "--network",
    "unordered-nonduplicating",
    "--threads",
    "1",
];

#[test]
fn a_passing_run_exits_0_with_the_contracts_json() {
    let out = run(&[SMALL, &["--json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("election-safety"), "{stdout}");
    assert!(stdout.contains("complete (exhaustive within the bounds)"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("checking raft servers=3"), "{stderr}");
    let j = last_json(&out);
    assert_eq!(j["protocol"], "raft");
    assert_eq!(j["reconfig"], "none");
    assert_eq!(j["servers"], 3);
    assert_eq!(j["complete"], true);
    assert_eq!(j["unique_states"], 8610);
    assert!(j["states"].as_u64().unwrap() >= 8610);
    assert!(j["max_depth"].as_u64().unwrap() > 0);
    assert!(j["elapsed_ms"].is_u64());
    let props = j["properties"].as_array().unwrap();
    let status = |name: &str| {
        props
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| (p["expectation"].clone(), p["status"].clone()))
            .unwrap_or_else(|| panic!("no property {name}"))
    };
    assert_eq!(status("election-safety"), ("always".into(), "holds".into()));
    assert_eq!(
        status("leader-elected"),
        ("sometimes".into(), "found".into())
    );
    for p in props {
        assert!(p.get("trace").is_some());
    }
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["check", "--servers", "0"], "--servers"),
        (&["check", "--max-term", "0"], "--max-term"),
        (&["check", "--network", "carrier-pigeon"], "unknown network"),
        (&["check", "--bug", "no-such-bug"], "commit-previous-term"),
        (&["check", "--strategy", "guess"], "unknown strategy"),
        (&["check", "--protocol", "paxos"], "unknown protocol"),
        (&["check", "--config", "fast"], "unknown --config 'fast'"),
        (&["check", "--pre-vote"], "KRaft options"),
        (&["check", "--servers", "three"], "invalid value"),
        (&["check", "--frobnicate"], "--frobnicate"),
        (&["check", "--threads", "0"], "--threads"),
        (&["check", "--observers", "1"], "KRaft"),
        (&["explore", "--addr", "not-an-address"], "cannot listen"),
        (&["check", "--reconfig", "sometimes"], "unknown reconfig"),
        (&["check", "--changes", "+3"], "--reconfig"),
        (
            &["check", "--reconfig", "joint", "--changes", "3"],
            "bad --changes",
        ),
        (
            &["check", "--reconfig", "joint", "--changes", "+9"],
            "at most 7",
        ),
        (
            &["check", "--reconfig", "single", "--heartbeats", "maybe"],
            "--heartbeats",
        ),
        (
            &[
                "check",
                "--reconfig",
                "joint",
                "--heartbeats",
                "off",
                "--lossy",
            ],
            "--lossy",
        ),
    ];
    for (args, needle) in cases {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_usage_error(out.status.code(), &stderr, needle);
    }
}

#[test]
fn a_violated_property_exits_12_with_a_readable_counterexample() {
    let out = run(&[
        "check",
        "--bug",
        "unpersisted-vote",
        "--max-term",
        "1",
        "--crashes",
        "1",
        "--network",
        "unordered-nonduplicating",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(12), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("election-safety"));
    assert!(stdout.contains("VIOLATED"));
    assert!(
        stdout.contains("Counterexample to election-safety"),
        "{stdout}"
    );
    assert!(
        stdout.contains("crash n1") || stdout.contains("crash n0") || stdout.contains("crash n2")
    );
    assert!(stdout.contains("Explorer: #/steps/0/"), "{stdout}");
    let j = last_json(&out);
    assert_eq!(j["complete"], false);
    let p = j["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "election-safety")
        .unwrap()
        .clone();
    assert_eq!(p["status"], "VIOLATED");
    // Breadth-first: the shortest counterexample, 8 steps.
    assert_eq!(p["trace"]["steps"].as_array().unwrap().len(), 8);
}

#[test]
fn the_same_configuration_without_the_bug_exits_0() {
    let out = run(&[
        "check",
        "--config",
        "figure2",
        "--max-term",
        "1",
        "--crashes",
        "1",
        "--network",
        "unordered-nonduplicating",
        "--threads",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_sometimes_property_never_reached_exits_13() {
    // Raft appends no no-op: with no client request nothing ever commits.
    let out = run(&[SMALL, &["--values", "0", "--json"]].concat());
    assert_eq!(out.status.code(), Some(13), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NOT FOUND"));
    let j = last_json(&out);
    assert!(j["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "entry-committed" && p["status"] == "NOT FOUND"));
}

#[test]
fn bugs_lists_the_catalogue() {
    let out = run(&["bugs"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in [
        "commit-previous-term",
        "vote-without-log-check",
        "unpersisted-vote",
        "no-truncate-on-conflict",
        "kraft-hwm-before-epoch-start",
        "kraft-ignore-diverging-epoch",
    ] {
        assert!(stdout.contains(name), "{name} missing:\n{stdout}");
    }
}

#[test]
fn kraft_runs_and_reports_its_own_properties() {
    let out = run(&[
        "check",
        "--config",
        "figure2",
        "--protocol",
        "kraft",
        "--servers",
        "2",
        "--max-term",
        "2",
        "--values",
        "0",
        "--crashes",
        "0",
        "--network",
        "unordered-nonduplicating",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = last_json(&out);
    assert_eq!(j["protocol"], "kraft");
    let names: Vec<_> = j["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"monotonic-high-watermark".to_string()));
    assert!(names.contains(&"high-watermark-in-second-epoch".to_string()));
}

#[test]
fn a_membership_run_reports_its_plan_and_partners() {
    let out = run(&[
        "check",
        "--reconfig",
        "joint",
        "--servers",
        "2",
        "--changes",
        "+2-0",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = last_json(&out);
    assert_eq!(j["reconfig"], "joint");
    assert_eq!(j["complete"], true);
    assert_eq!(j["unique_states"], 801);
    let statuses: Vec<(String, String)> = j["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, status) in [
        ("one-uncommitted-config", "holds"),
        ("joint-config-committed", "found"),
        ("final-config-committed", "found"),
        ("removed-leader-stepped-down", "found"),
    ] {
        assert!(
            statuses.contains(&(name.to_string(), status.to_string())),
            "{name} {status}: {statuses:?}"
        );
    }
}

#[test]
fn limits_and_counts_are_checked_in_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["check", "--max-states", "0"],
            "--max-states must be at least 1",
        ),
        (
            &["check", "--threads", "100000"],
            "--threads must be between 1 and",
        ),
        (
            &["check", "--max-term", "-1"],
            "must be a non-negative integer",
        ),
        (&["check", "--seed", "-5"], "must be a non-negative integer"),
        (
            &["check", "--servers", "-2"],
            "must be a non-negative integer",
        ),
        (
            &["check", "--time-limit", "0"],
            "--time-limit must be at least 1",
        ),
        (&["check", "--memory-limit", "0"], "must be positive"),
        (&["check", "--memory-limit", "lots"], "not a size"),
        (
            &["explore", "--crashes", "-1"],
            "must be a non-negative integer",
        ),
    ];
    for (args, needle) in cases {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_usage_error(out.status.code(), &stderr, needle);
    }
}

/// The statuses of a `--json` run, by property name.
fn statuses(j: &serde_json::Value) -> Vec<(String, String, String)> {
    j["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["expectation"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_state_limit_stops_at_the_number_given_and_a_search_that_ends_first_is_complete() {
    let out = run(&[SMALL, &["--max-states", "100", "--json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = last_json(&out);
    assert_eq!(j["states"], 100, "{j}");
    assert_eq!(j["complete"], false);
    assert_eq!(j["cut"], "state limit 100 reached");
    for (name, _, status) in statuses(&j) {
        assert!(
            status == "unknown" || status == "found" || status == "VIOLATED",
            "{name} is {status} after 100 states"
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("INCOMPLETE (state limit 100 reached)"),
        "{stdout}"
    );

    // The whole space is 32,649 generated states: a larger limit is not
    // reached, and the search is complete.
    let out = run(&[SMALL, &["--max-states", "40000", "--json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = last_json(&out);
    assert_eq!(j["complete"], true, "{j}");
    assert_eq!(j["unique_states"], 8610);
    assert!(j["states"].as_u64().unwrap() < 40000);
}

#[test]
fn a_run_stopped_at_the_first_violation_reports_unchecked_properties_as_unknown() {
    let out = run(&["check", "--bug", "unpersisted-vote", "--shortest", "--json"]);
    assert_eq!(out.status.code(), Some(12), "{out:?}");
    let j = last_json(&out);
    assert_eq!(j["cut"], "stopped at the first violation");
    let st = statuses(&j);
    let mut unknown = 0;
    for (name, expectation, status) in &st {
        match name.as_str() {
            "election-safety" => assert_eq!(status, "VIOLATED"),
            _ if expectation == "always" => {
                assert_eq!(status, "unknown", "{name} was not checked to the end");
                unknown += 1;
            }
            _ => assert!(status == "found" || status == "unknown", "{name}: {status}"),
        }
    }
    assert!(unknown >= 4, "{st:?}");
    assert!(!st.iter().any(|(_, _, s)| s == "holds"), "{st:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("INCOMPLETE (stopped at the first violation): "),
        "{stdout}"
    );
    assert!(
        stdout.contains("not checked to the end (unknown)"),
        "{stdout}"
    );
    let table: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("#1 ") && l.contains("log-matching"))
        .collect();
    assert_eq!(table.len(), 1, "{stdout}");
    assert!(table[0].trim_end().ends_with("unknown"), "{}", table[0]);
    let verdict = stdout.lines().rev().nth(1).unwrap_or_default();
    assert!(
        verdict.starts_with(
            "the run is INCOMPLETE (stopped at the first violation); VIOLATED: election-safety; "
        ),
        "{verdict}"
    );
}

#[test]
fn the_verdict_line_and_the_numbers_read_plainly() {
    let out = run(SMALL);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("the run is complete; every property as expected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("unique states 8,610, total states 32,649"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(dfs, 1 thread, symmetry, "), "{stderr}");

    let out = run(&[SMALL, &["--values", "0"]].concat());
    assert_eq!(out.status.code(), Some(13), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("the run is complete; NOT FOUND: entry-committed"),
        "{stdout}"
    );
    let out = run(&[SMALL, &["--strategy", "bfs"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(bfs, 1 thread, "), "{stderr}");
}

/// Runs `kraftwerk args` and returns its output with its peak resident
/// memory in bytes (from `wait4`).
// The child is reaped by `wait4`, which clippy does not know.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (std::process::Output, u64) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(kraftwerk_tests::kraftwerk())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kraftwerk");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let _ = se.read_to_end(&mut err);
        err
    });
    let _ = so.read_to_end(&mut out);
    let err = t.join().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child; the pointers are valid.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    use std::os::unix::process::ExitStatusExt;
    let output = std::process::Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: out,
        stderr: err,
    };
    (output, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_memory_limit_stops_a_breadth_first_search_cleanly() {
    // This bug's bounds need a random walk: breadth-first search grows
    // until it is stopped (without a limit, by the kernel at 19.6 GB).
    let (out, peak) = run_measured(&[
        "check",
        "--bug",
        "commit-previous-term",
        "--shortest",
        "--memory-limit",
        "300M",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = last_json(&out);
    assert_eq!(j["complete"], false);
    let cut = j["cut"].as_str().unwrap();
    assert!(cut.starts_with("memory limit 300 MiB reached"), "{cut}");
    assert!(peak < 400 << 20, "peak resident memory {} MiB", peak >> 20);
    for (name, expectation, status) in statuses(&j) {
        if expectation == "always" {
            assert_eq!(status, "unknown", "{name}");
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--strategy simulation"), "{stderr}");
}

#[test]
fn a_time_limit_stops_the_search() {
    // Not exhausted in 9 minutes (README, "Measured").
    let started = std::time::Instant::now();
    let out = run(&["check", "--max-term", "2", "--time-limit", "1", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = last_json(&out);
    assert_eq!(j["complete"], false);
    assert_eq!(j["cut"], "time limit 1 s reached");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn the_bugs_table_is_aligned_and_current() {
    let out = run(&["bugs"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("not built yet"), "{stdout}");
    let mut lines = stdout.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), kraftwerk_specs::bugs::CATALOGUE.len());
    for column in ["protocol", "breaks", "bounds"] {
        let at = header.find(column).unwrap();
        for row in &rows {
            assert!(
                row.get(at - 2..at) == Some("  ") && !row[at..].starts_with(' '),
                "column {column} at {at}:\n{header}\n{row}"
            );
        }
    }
}
