//! The `kraftwerk` command line as a user runs it: exit codes, the table,
//! the `--json` line, one-line usage errors, counterexample traces.

use kraftwerk_tests::{assert_usage_error, last_json, run};

const SMALL: &[&str] = &[
    "check",
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
