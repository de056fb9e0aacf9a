//! The human-readable table and the `--json` line.

use crate::limits::thousands;
use crate::run::{RunResult, Status};
use serde_json::{json, Value};

/// The table for one or more runs, then every counterexample, then the
/// overall [`verdict`] line.
pub fn table(runs: &[RunResult]) -> String {
    let mut s = String::new();
    let name_w = runs
        .iter()
        .flat_map(|r| r.properties.iter().map(|p| p.name.len()))
        .max()
        .unwrap_or(8)
        .max(8);
    s.push_str(&format!(
        "{:<8} {:<name_w$}  {:<11}  {}\n",
        "run", "property", "expectation", "status"
    ));
    for (i, r) in runs.iter().enumerate() {
        for p in &r.properties {
            s.push_str(&format!(
                "{:<8} {:<name_w$}  {:<11}  {}\n",
                format!("#{}", i + 1),
                p.name,
                p.expectation,
                p.status.word()
            ));
        }
    }
    s.push('\n');
    for (i, r) in runs.iter().enumerate() {
        s.push_str(&format!("#{} {}\n", i + 1, r.config));
        s.push_str(&format!(
            "   unique states {}, total states {}, max depth {}, elapsed {:.1}s, {}\n",
            thousands(r.unique_states as u64),
            thousands(r.states as u64),
            r.max_depth,
            r.elapsed_ms as f64 / 1000.0,
            match &r.cut {
                None => "complete (exhaustive within the bounds)".to_string(),
                Some(why) => match r.unknown_count() {
                    0 => format!("INCOMPLETE ({why})"),
                    n => format!(
                        "INCOMPLETE ({why}): {} not checked to the end (unknown)",
                        plural(n, "property", "properties")
                    ),
                },
            }
        ));
    }
    for (i, r) in runs.iter().enumerate() {
        for p in &r.properties {
            if p.status == Status::Violated {
                if let Some(t) = &p.trace {
                    s.push_str(&format!(
                        "\nCounterexample to {} in #{} ({} steps):\n{}",
                        p.name,
                        i + 1,
                        t.steps.len(),
                        t.to_text()
                    ));
                }
            }
        }
    }
    s.push('\n');
    s.push_str(&verdict(runs));
    s.push('\n');
    s
}

/// `1 property`, `6 properties`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One line for the whole call: whether every run was complete, and what
/// failed. `all 4 runs complete; every property as expected`, or `the run
/// is INCOMPLETE (stopped at the first violation); VIOLATED:
/// election-safety; 6 properties unknown`.
pub fn verdict(runs: &[RunResult]) -> String {
    let single = runs.len() == 1;
    let incomplete: Vec<String> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.cut.as_ref().map(|why| {
                if single {
                    format!("the run is INCOMPLETE ({why})")
                } else {
                    format!("#{} INCOMPLETE ({why})", i + 1)
                }
            })
        })
        .collect();
    let mut parts = vec![match (single, incomplete.is_empty()) {
        (true, true) => "the run is complete".to_string(),
        (false, true) => format!("all {} runs complete", runs.len()),
        (true, false) => incomplete.join(", "),
        (false, false) => format!(
            "{} of {} runs complete, {}",
            runs.len() - incomplete.len(),
            runs.len(),
            incomplete.join(", ")
        ),
    }];
    let named = |status: Status| -> Vec<String> {
        runs.iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.properties
                    .iter()
                    .filter(move |p| p.status == status)
                    .map(move |p| {
                        if single {
                            p.name.to_string()
                        } else {
                            format!("{} (#{})", p.name, i + 1)
                        }
                    })
            })
            .collect()
    };
    let violated = named(Status::Violated);
    let not_found = named(Status::NotFound);
    let unknown: usize = runs.iter().map(RunResult::unknown_count).sum();
    if !violated.is_empty() {
        parts.push(format!("VIOLATED: {}", violated.join(", ")));
    }
    if !not_found.is_empty() {
        parts.push(format!("NOT FOUND: {}", not_found.join(", ")));
    }
    match (violated.is_empty() && not_found.is_empty(), unknown) {
        (true, 0) => parts.push("every property as expected".to_string()),
        (true, n) => parts.push(format!(
            "nothing violated, {} unknown",
            plural(n, "property", "properties")
        )),
        (false, 0) => {}
        (false, n) => parts.push(format!("{} unknown", plural(n, "property", "properties"))),
    }
    parts.join("; ")
}

/// One run as the JSON object of the command-line contract.
pub fn run_json(r: &RunResult) -> Value {
    json!({
        "protocol": r.protocol,
        "reconfig": r.reconfig,
        "servers": r.servers,
        "config": r.config,
        "strategy": r.strategy,
        "complete": r.complete,
        "cut": r.cut,
        "unique_states": r.unique_states,
        "states": r.states,
        "max_depth": r.max_depth,
        "elapsed_ms": r.elapsed_ms as u64,
        "properties": r.properties.iter().map(|p| json!({
            "name": p.name,
            "expectation": p.expectation,
            "status": p.status.word(),
            "trace": p.trace,
        })).collect::<Vec<_>>(),
    })
}

/// The last line of `--json` output: one object for a single run, or
/// `{"runs": [...], "complete": ...}` for the default suite.
pub fn json_line(runs: &[RunResult], suite: bool) -> String {
    let v = if suite {
        json!({
            "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
            "complete": runs.iter().all(|r| r.complete),
        })
    } else {
        run_json(&runs[0])
    };
    serde_json::to_string(&v).expect("JSON of plain data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{PropertyResult, Strategy};

    fn result(statuses: &[(&'static str, Status)], cut: Option<&str>) -> RunResult {
        RunResult {
            protocol: "raft".into(),
            reconfig: "none".into(),
            servers: 3,
            config: "raft".into(),
            strategy: Strategy::Dfs,
            complete: cut.is_none(),
            cut: cut.map(str::to_string),
            unique_states: 1_391_785,
            states: 6_319_698,
            max_depth: 53,
            elapsed_ms: 1,
            properties: statuses
                .iter()
                .map(|&(name, status)| PropertyResult {
                    name,
                    expectation: if matches!(status, Status::Found | Status::NotFound) {
                        "sometimes"
                    } else {
                        "always"
                    },
                    status,
                    trace: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_verdict_says_what_failed_and_what_was_not_checked() {
        let ok = result(
            &[
                ("election-safety", Status::Holds),
                ("leader-elected", Status::Found),
            ],
            None,
        );
        let suite = vec![ok.clone(), ok.clone(), ok.clone(), ok.clone()];
        assert_eq!(
            verdict(&suite),
            "all 4 runs complete; every property as expected"
        );
        let text = table(&suite);
        assert!(
            text.contains("unique states 1,391,785, total states 6,319,698"),
            "{text}"
        );
        assert!(text.ends_with("\nall 4 runs complete; every property as expected\n"));

        let violated = result(
            &[
                ("election-safety", Status::Violated),
                ("log-matching", Status::Unknown),
                ("leader-elected", Status::Found),
            ],
            Some("stopped at the first violation"),
        );
        let missing = result(&[("entry-committed", Status::NotFound)], None);
        assert_eq!(
            verdict(&[ok.clone(), violated.clone(), missing]),
            "2 of 3 runs complete, #2 INCOMPLETE (stopped at the first violation); \
             VIOLATED: election-safety (#2); NOT FOUND: entry-committed (#3); 1 property unknown"
        );
        assert_eq!(
            verdict(&[violated]),
            "the run is INCOMPLETE (stopped at the first violation); VIOLATED: election-safety; \
             1 property unknown"
        );
        let cut = result(
            &[
                ("election-safety", Status::Unknown),
                ("leader-elected", Status::Unknown),
            ],
            Some("state limit 100 reached"),
        );
        assert_eq!(
            verdict(&[cut]),
            "the run is INCOMPLETE (state limit 100 reached); nothing violated, 2 properties unknown"
        );
    }
}
