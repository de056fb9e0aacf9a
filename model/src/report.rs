//! The human-readable table and the `--json` line.

use crate::run::{RunResult, Status};
use serde_json::{json, Value};

/// The table for one or more runs, then every counterexample.
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
            r.unique_states,
            r.states,
            r.max_depth,
            r.elapsed_ms as f64 / 1000.0,
            match &r.cut {
                None => "complete (exhaustive within the bounds)".to_string(),
                Some(why) => format!("INCOMPLETE ({why})"),
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
    s
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
