//! The bug catalogue end to end: every catalogued bug that the checker finds
//! at its own bounds is found by `kraftwerk check --bug NAME` with no other
//! flag, breaks the property the catalogue names, and the same bounds
//! without the switch break nothing; counterexamples read the same as the
//! golden file and export as ITF.
//!
//! Set `KRAFTWERK_BLESS=1` to rewrite the golden files.

use kraftwerk_model::bugs::{catalogue, Checked};
use kraftwerk_tests::{assert_usage_error, last_json, run};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

fn property<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name} in {j}"))
}

/// The protocol `check --bug` picks: the first the bug lives in.
fn default_protocol(b: &Checked) -> &'static str {
    b.info.protocols[0].name()
}

/// The bugs the checker finds at their own bounds.
fn found() -> impl Iterator<Item = Checked> {
    catalogue().filter(|b| b.bounds.trace_steps.is_some())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_catalogue_says_which_bugs_are_found_at_their_bounds() {
    // Found within a minute on two cores at their own bounds (see the
    // README's "Bug catalogue"): every one of them, four by random walks.
    // A bug added without a trace length (not found) fails this list.
    let found: Vec<_> = found().map(|b| b.name).collect();
    assert_eq!(
        found,
        [
            "commit-previous-term",
            "vote-without-log-check",
            "unpersisted-vote",
            "no-truncate-on-conflict",
            "kraft-hwm-before-epoch-start",
            "kraft-ignore-diverging-epoch",
            "single-change-without-term-commit",
            "joint-skip-old-majority"
        ]
    );
}

#[test]
fn every_found_bug_is_caught_within_its_default_bounds() {
    for b in found() {
        let out = run(&["check", "--bug", b.name, "--json"]);
        assert_eq!(out.status.code(), Some(12), "{}: {out:?}", b.name);
        let text = stdout(&out);
        assert!(
            text.contains(&format!("Counterexample to {}", b.info.breaks.name)),
            "{}: {text}",
            b.name
        );
        let j = last_json(&out);
        assert_eq!(j["protocol"], default_protocol(&b), "{}", b.name);
        assert_eq!(j["servers"], b.bounds.servers, "{}", b.name);
        assert_eq!(j["strategy"], b.bounds.strategy, "{}", b.name);
        let p = property(&j, b.info.breaks.name);
        assert_eq!(p["status"], "VIOLATED", "{}: {j}", b.name);
        assert_eq!(p["expectation"], "always");
    }
}

#[test]
fn the_shortest_counterexample_has_the_catalogued_length() {
    for b in found() {
        // Random walks (seed 0) are deterministic but not shortest: their
        // catalogued length is the walk's.
        let mut args = vec!["check", "--bug", b.name, "--json"];
        if b.bounds.strategy != "simulation" {
            args.push("--shortest");
        }
        let out = run(&args);
        assert_eq!(out.status.code(), Some(12), "{}: {out:?}", b.name);
        let j = last_json(&out);
        let p = property(&j, b.info.breaks.name);
        assert_eq!(p["status"], "VIOLATED", "{}", b.name);
        let steps = p["trace"]["steps"].as_array().expect("steps").len();
        assert_eq!(Some(steps), b.bounds.trace_steps, "{}", b.name);
    }
}

/// Without the switch, the same bounds searched breadth-first two steps
/// deeper than the counterexample break no property. (An exhaustive search
/// of three servers with two terms takes far more than a minute; the
/// one-term bounds are also checked exhaustively.)
#[test]
fn without_the_switch_the_same_bounds_break_nothing() {
    for b in found() {
        let depth = (b.bounds.trace_steps.unwrap() + 2).to_string();
        let mut args: Vec<String> = vec![
            "check".into(),
            "--protocol".into(),
            default_protocol(&b).into(),
        ];
        args.extend(b.bounds.args());
        args.extend(["--threads", "1", "--json"].map(String::from));
        // Random walks: more states than finding the bug took.
        let cut = if b.bounds.strategy == "simulation" {
            vec!["--max-states".into(), "1000000".into()]
        } else {
            vec!["--depth".into(), depth]
        };
        let mut runs = vec![[args.clone(), cut].concat()];
        if b.bounds.max_term == 1 {
            runs.push(args);
        }
        for args in runs {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(&args);
            let j = last_json(&out);
            for p in j["properties"].as_array().unwrap() {
                assert_ne!(p["status"], "VIOLATED", "{}: {args:?}: {p}", b.name);
            }
            if j["complete"] == true {
                assert_eq!(out.status.code(), Some(0), "{}: {args:?}", b.name);
            } else {
                // Cut by depth: a "sometimes" property may be out of reach.
                assert!(
                    matches!(out.status.code(), Some(0) | Some(13)),
                    "{}: {args:?}: {out:?}",
                    b.name
                );
            }
        }
    }
}

#[test]
fn bugs_json_gives_every_bug_its_bounds() {
    let out = run(&["bugs", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let j = last_json(&out);
    let bugs = j["bugs"].as_array().expect("bugs");
    assert_eq!(bugs.len(), catalogue().count());
    for (b, v) in catalogue().zip(bugs) {
        assert_eq!(v["name"], b.name);
        assert_eq!(v["protocol"], b.protocols());
        assert_eq!(v["breaks"], b.info.breaks.name);
        assert_eq!(v["bounds"]["max_term"], b.bounds.max_term);
        assert_eq!(v["bounds"]["network"], b.bounds.network.name());
        assert_eq!(v["args"], serde_json::json!(b.bounds.args()));
    }
    let text = stdout(&run(&["bugs"]));
    for b in catalogue() {
        assert!(
            text.contains(b.name) && text.contains(b.info.breaks.name),
            "{text}"
        );
    }
    assert!(text.contains("max-term=1"), "{text}");
}

/// Elapsed times vary from run to run; everything else is deterministic
/// under `--shortest` (one thread, breadth-first).
fn mask(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("elapsed ") {
            Some(i) => {
                let rest = &l[i + "elapsed ".len()..];
                let end = rest.find(',').unwrap_or(rest.len());
                format!("{}elapsed <masked>{}", &l[..i], &rest[end..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn the_unpersisted_vote_counterexample_reads_as_the_golden_file() {
    let out = run(&["check", "--bug", "unpersisted-vote", "--shortest"]);
    assert_eq!(out.status.code(), Some(12), "{out:?}");
    let got = mask(&stdout(&out));
    let golden: PathBuf = [env!("CARGO_MANIFEST_DIR"), "golden", "unpersisted-vote.txt"]
        .iter()
        .collect();
    if std::env::var("KRAFTWERK_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, &got).expect("write golden file");
    }
    let want =
        std::fs::read_to_string(&golden).expect("golden file (regenerate with KRAFTWERK_BLESS=1)");
    assert_eq!(
        got,
        want,
        "output differs from {} (regenerate with KRAFTWERK_BLESS=1 if intended)",
        golden.display()
    );
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kraftwerk-{}-{name}", std::process::id()))
}

#[test]
fn trace_out_writes_itf_with_one_state_per_position() {
    let path = temp_path("trace.itf.json");
    let p = path.to_str().unwrap();
    let out = run(&[
        "check",
        "--bug",
        "vote-without-log-check",
        "--shortest",
        "--trace-out",
        p,
        "--trace-format",
        "itf",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(12), "{out:?}");
    let j = last_json(&out);
    let steps = property(&j, "leader-completeness")["trace"]["steps"]
        .as_array()
        .unwrap()
        .len();
    let itf: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("ITF file")).expect("JSON");
    std::fs::remove_file(&path).ok();
    let states = itf["states"].as_array().expect("states");
    assert_eq!(states.len(), steps + 1);
    assert_eq!(itf["#meta"]["format"], "ITF");
    let vars: Vec<&str> = itf["vars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        vars,
        ["role", "term", "vote", "leader", "log", "commit", "up"]
    );
    for (i, s) in states.iter().enumerate() {
        assert_eq!(s["#meta"]["index"], i);
        for v in &vars {
            let map = s[*v]["#map"].as_array().expect("a map per variable");
            assert_eq!(map.len(), 3, "{v}: one entry per server");
        }
    }
    // The initial state: every server a follower in term 0.
    assert_eq!(
        states[0]["term"]["#map"][0],
        serde_json::json!(["n0", {"#bigint": "0"}])
    );
    // The last: two leaders' logs differ from the committed one.
    let last = &states[steps];
    assert!(last["role"]["#map"]
        .as_array()
        .unwrap()
        .iter()
        .any(|kv| kv[1] == "leader"));
}

#[test]
fn trace_out_writes_the_json_trace() {
    let path = temp_path("trace.json");
    let out = run(&[
        "check",
        "--bug",
        "kraft-ignore-diverging-epoch",
        "--shortest",
        "--trace-out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(12), "{out:?}");
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("trace file")).expect("JSON");
    std::fs::remove_file(&path).ok();
    assert_eq!(t["property"], "majority-reached-high-watermark");
    let steps = t["steps"].as_array().unwrap().len();
    let bug = kraftwerk_model::bugs::from_name("kraft-ignore-diverging-epoch").unwrap();
    assert_eq!(
        Some(steps),
        kraftwerk_model::bugs::checked(bug).bounds.trace_steps
    );
    assert_eq!(t["states"].as_array().unwrap().len(), steps + 1);
    assert!(t["explorer_path"]
        .as_str()
        .unwrap()
        .starts_with("#/steps/0/"));
}

#[test]
fn bad_trace_flags_are_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "check",
                "--bug",
                "unpersisted-vote",
                "--trace-out",
                "/tmp/x",
                "--trace-format",
                "tla",
            ],
            "unknown trace format",
        ),
        (
            &[
                "check",
                "--bug",
                "unpersisted-vote",
                "--trace-out",
                "/nonexistent-dir/x/trace.json",
            ],
            "cannot write",
        ),
        (
            &[
                "check",
                "--bug",
                "unpersisted-vote",
                "--trace-format",
                "itf",
            ],
            "--trace-out",
        ),
        (
            &[
                "check",
                "--bug",
                "unpersisted-vote",
                "--shortest",
                "--strategy",
                "dfs",
            ],
            "--shortest",
        ),
    ];
    for (args, needle) in cases {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_usage_error(out.status.code(), &stderr, needle);
    }
}

#[test]
fn a_membership_bug_is_caught_under_kraft_too() {
    let out = run(&[
        "check",
        "--bug",
        "joint-skip-old-majority",
        "--protocol",
        "kraft",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(12), "{out:?}");
    let j = last_json(&out);
    assert_eq!(j["protocol"], "kraft");
    assert_eq!(property(&j, "one-uncommitted-config")["status"], "VIOLATED");
    let out = run(&["check", "--bug", "unpersisted-vote", "--protocol", "kraft"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    kraftwerk_tests::assert_usage_error(out.status.code(), &stderr, "lives in raft");
}
