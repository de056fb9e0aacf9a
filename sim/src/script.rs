//! Scenario scripts in the style of etcd-io/raft's datadriven tests: a text
//! file of commands, each followed by `----` and the expected trace of what
//! the nodes did, then a blank line. Lines starting with `#` before a
//! command are comments and are kept. [`run_file`] runs a script and
//! compares; with `KRAFTWERK_BLESS=1` it rewrites the expectations
//! instead, so that a change of behaviour is reviewed as a diff.
//!
//! The first command builds the cluster:
//!
//! ```text
//! cluster raft 1 2 3 [config=production|plain] [bug=NAME]... [mode=joint|single]
//!         [noop=on|off] [spares=4,5] [pre-vote=on|off] [check-quorum=on|off]
//! ```
//!
//! (`production` is [`AnyConfig::production`], the default; `plain` is
//! the protocol's `Config::new`; `spares` are Raft's servers that do not
//! vote yet, or KRaft's observers). Then:
//!
//! | command                       | what it does                                     |
//! |-------------------------------|--------------------------------------------------|
//! | `campaign N`                  | N's election timer fires, armed or not           |
//! | `timeout N TIMER`             | N's timer fires if armed (`election`, `heartbeat`, `fetch`, `check-quorum`) |
//! | `propose N SEQ`               | a client asks N to append `c0#SEQ`               |
//! | `change N SEQ add M remove K` | the administrator asks N for `c7#SEQ`            |
//! | `deliver`                     | every message in flight now, oldest first        |
//! | `deliver F T [COUNT\|all]`    | the oldest message(s) from F to T                |
//! | `drop [from=F] [to=T] [not-to=T]` | loses the messages in flight that match      |
//! | `stabilize`                   | delivers until nothing is in flight (no timers)  |
//! | `crash N` / `restart N`       | N loses its memory / restarts from its disk      |
//! | `partition 1 2 / 3` / `heal`  | messages between groups are lost / not any more  |
//! | `state`                       | one line per server                              |
//! | `check`                       | the safety properties broken now, if any         |
//!
//! Every step prints its input and the actions the node emitted, in order;
//! a check that fails prints `error: ...` (the script goes on, so that a
//! script can show what a catalogued bug breaks).

use crate::Cluster;
use kraftwerk_specs::kraft;
use kraftwerk_specs::membership::{Mode, VoterChange};
use kraftwerk_specs::protocol::{AnyConfig, ProtocolKind};
use kraftwerk_specs::raft;
use kraftwerk_specs::types::{NodeId, RequestId};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// One command of a script and what it printed (or should print).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Comment lines before the command.
    pub comments: Vec<String>,
    /// The command.
    pub command: String,
    /// The output lines.
    pub output: Vec<String>,
}

/// Parses a script: comments, a command, `----`, output up to a blank
/// line.
pub fn parse(text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut comments = Vec::new();
    while let Some((n, line)) = lines.next() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            comments.push(line.to_string());
            continue;
        }
        let command = line.to_string();
        match lines.next() {
            Some((_, "----")) => {}
            _ => {
                return Err(format!(
                    "line {}: '{command}' is not followed by ----",
                    n + 1
                ))
            }
        }
        let mut output = Vec::new();
        while let Some((_, l)) = lines.peek() {
            if l.trim_end().is_empty() {
                break;
            }
            output.push(l.trim_end().to_string());
            lines.next();
        }
        blocks.push(Block {
            comments: std::mem::take(&mut comments),
            command,
            output,
        });
    }
    Ok(blocks)
}

/// The text of `blocks` as a script file.
pub fn render(blocks: &[Block]) -> String {
    let mut s = String::new();
    for (k, b) in blocks.iter().enumerate() {
        if k > 0 {
            s.push('\n');
        }
        for c in &b.comments {
            s += c;
            s.push('\n');
        }
        s += &b.command;
        s += "\n----\n";
        for o in &b.output {
            s += o;
            s.push('\n');
        }
    }
    s
}

/// Runs the commands of `blocks`; returns them with the output they
/// printed. The cluster comes back too, for assertions in Rust.
pub fn run(blocks: &[Block]) -> (Vec<Block>, Option<Cluster>) {
    let mut cluster: Option<Cluster> = None;
    let mut out = Vec::new();
    for b in blocks {
        let output = match execute(&mut cluster, &b.command) {
            Ok(lines) if lines.is_empty() => vec!["ok".to_string()],
            Ok(lines) => lines,
            Err(e) => vec![format!("error: {e}")],
        };
        out.push(Block {
            output,
            ..b.clone()
        });
    }
    (out, cluster)
}

/// Runs the script at `path` and compares its output with the one written
/// there; with `KRAFTWERK_BLESS=1`, rewrites the file instead. Returns the
/// cluster at the end of the script.
pub fn run_file(path: &Path) -> Cluster {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let blocks = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (got, cluster) = run(&blocks);
    let got_text = render(&got);
    if std::env::var("KRAFTWERK_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &got_text).expect("write the blessed script");
    } else if got_text != text {
        let diff: Vec<String> = blocks
            .iter()
            .zip(&got)
            .filter(|(want, got)| want.output != got.output)
            .take(3)
            .map(|(want, got)| {
                format!(
                    "{}\n--- expected\n{}\n--- got\n{}",
                    want.command,
                    want.output.join("\n"),
                    got.output.join("\n")
                )
            })
            .collect();
        panic!(
            "{} differs (regenerate with KRAFTWERK_BLESS=1 and review the diff):\n{}",
            path.display(),
            diff.join("\n\n")
        );
    }
    cluster.unwrap_or_else(|| panic!("{}: no cluster command", path.display()))
}

fn node(word: Option<&str>) -> Result<NodeId, String> {
    let w = word.ok_or("a node id is missing")?;
    w.trim_start_matches('n')
        .parse()
        .map(NodeId)
        .map_err(|_| format!("'{w}' is not a node id"))
}

fn number(word: Option<&str>) -> Result<u64, String> {
    let w = word.ok_or("a number is missing")?;
    w.parse().map_err(|_| format!("'{w}' is not a number"))
}

fn on_off(v: &str) -> Result<bool, String> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("'{v}': expected on or off")),
    }
}

/// Builds the cluster of a `cluster` command.
fn build(words: &[&str]) -> Result<Cluster, String> {
    let kind: ProtocolKind = words.first().ok_or("cluster raft|kraft IDS...")?.parse()?;
    let mut ids = Vec::new();
    let mut opts = Vec::new();
    for w in &words[1..] {
        match w.split_once('=') {
            Some((k, v)) => opts.push((k, v)),
            None => ids.push(node(Some(w))?),
        }
    }
    let mut spares = Vec::new();
    let mut plain = false;
    for (k, v) in &opts {
        match *k {
            "spares" => {
                for s in v.split(',') {
                    spares.push(node(Some(s))?);
                }
            }
            "config" => plain = *v == "plain",
            _ => {}
        }
    }
    let mut cfg = match (kind, plain) {
        (_, false) => AnyConfig::production(kind, &ids, &spares),
        (ProtocolKind::Raft, true) => {
            let mut c = raft::Config::new(ids.iter().copied());
            c.servers.extend(&spares);
            AnyConfig::Raft(Arc::new(c))
        }
        (ProtocolKind::Kraft, true) => AnyConfig::Kraft(Arc::new(kraft::Config::new(
            ids.iter().copied(),
            spares.iter().copied(),
        ))),
    };
    for (k, v) in opts {
        let mode = || match v {
            "joint" => Ok(Mode::Joint),
            "single" => Ok(Mode::Single),
            _ => Err(format!("mode '{v}': expected joint or single")),
        };
        match (&mut cfg, k) {
            (_, "spares" | "config") => {}
            (AnyConfig::Raft(c), "bug") => {
                let bug = kraftwerk_model::bugs::from_name(v).ok_or(format!("unknown bug {v}"))?;
                Arc::make_mut(c).bugs.insert(bug);
            }
            (AnyConfig::Kraft(c), "bug") => {
                let bug = kraftwerk_model::bugs::from_name(v).ok_or(format!("unknown bug {v}"))?;
                Arc::make_mut(c).bugs.insert(bug);
            }
            (AnyConfig::Raft(c), "mode") => Arc::make_mut(c).reconfig = mode()?,
            (AnyConfig::Kraft(c), "mode") => Arc::make_mut(c).reconfig = mode()?,
            (AnyConfig::Raft(c), "noop") => Arc::make_mut(c).leader_noop = on_off(v)?,
            (AnyConfig::Kraft(c), "pre-vote") => Arc::make_mut(c).pre_vote = on_off(v)?,
            (AnyConfig::Kraft(c), "check-quorum") => Arc::make_mut(c).check_quorum = on_off(v)?,
            _ => return Err(format!("unknown option {k} for {kind}")),
        }
    }
    let mut all = ids.clone();
    all.extend(&spares);
    let mut c = Cluster::new(cfg, &all)?;
    c.verbose = true;
    Ok(c)
}

/// Runs one command; returns what it printed.
fn execute(cluster: &mut Option<Cluster>, command: &str) -> Result<Vec<String>, String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let (verb, args) = words.split_first().ok_or("empty command")?;
    if *verb == "cluster" {
        let c = build(args)?;
        let lines = c.state_lines();
        *cluster = Some(c);
        return Ok(lines);
    }
    let c = cluster
        .as_mut()
        .ok_or("the first command must be 'cluster'")?;
    let mut it = args.iter().copied();
    let result: Result<Vec<String>, String> = (|| {
        match *verb {
            "campaign" => c.force(node(it.next())?, kraftwerk_specs::node::Timer::Election)?,
            "timeout" => {
                let id = node(it.next())?;
                let name = it.next().ok_or("timeout N TIMER")?;
                let t = crate::text::parse_timer(name).ok_or(format!("unknown timer {name}"))?;
                if !c.fire(id, t)? {
                    return Ok(vec![format!("{id} has no armed {name} timer")]);
                }
            }
            "propose" => {
                let id = node(it.next())?;
                let seq = number(it.next())?;
                c.propose(id, RequestId { client: 0, seq }, vec![seq as u8])?;
            }
            "change" => {
                let id = node(it.next())?;
                let seq = number(it.next())?;
                let mut changes = Vec::new();
                while let Some(w) = it.next() {
                    let m = node(it.next())?;
                    changes.push(match w {
                        "add" => VoterChange::Add(m),
                        "remove" => VoterChange::Remove(m),
                        _ => return Err(format!("'{w}': expected add or remove")),
                    });
                }
                c.change(id, RequestId { client: 7, seq }, changes)?;
            }
            "deliver" => match it.next() {
                None => {
                    for _ in 0..c.network.len() {
                        c.deliver_at(0, false)?;
                    }
                }
                Some(f) => {
                    let from = node(Some(f))?;
                    let to = node(it.next())?;
                    let count = match it.next() {
                        None => 1,
                        Some("all") => usize::MAX,
                        Some(n) => number(Some(n))? as usize,
                    };
                    let mut delivered = 0;
                    while delivered < count && c.deliver(from, to)? {
                        delivered += 1;
                    }
                    if delivered == 0 {
                        return Ok(vec![format!("no message {from} -> {to} in flight")]);
                    }
                }
            },
            "drop" => {
                let mut filters = Vec::new();
                for w in it.by_ref() {
                    let (k, v) = w.split_once('=').ok_or(format!("'{w}': expected key=N"))?;
                    filters.push((k.to_string(), node(Some(v))?));
                }
                let lost = c.drop_where(|e| {
                    filters.iter().all(|(k, n)| match k.as_str() {
                        "from" => e.from == *n,
                        "to" => e.to == *n,
                        "not-to" => e.to != *n,
                        _ => false,
                    })
                });
                return Ok(vec![format!("{lost} dropped")]);
            }
            "stabilize" => {
                c.stabilize(10_000)?;
            }
            "crash" => c.crash(node(it.next())?)?,
            "restart" => c.restart(node(it.next())?)?,
            "partition" => {
                let mut groups = vec![BTreeSet::new()];
                for w in it.by_ref() {
                    if w == "/" {
                        groups.push(BTreeSet::new());
                    } else {
                        groups.last_mut().expect("a group").insert(node(Some(w))?);
                    }
                }
                c.partition(groups);
            }
            "heal" => c.heal(),
            "state" => return Ok(c.state_lines()),
            "check" => {
                let broken = c.broken_now();
                return Ok(vec![if broken.is_empty() {
                    "every safety property holds".to_string()
                } else {
                    format!("broken: {}", broken.join(", "))
                }]);
            }
            _ => return Err(format!("unknown command {verb}")),
        }
        Ok(Vec::new())
    })()
    .map(|extra| {
        let mut lines = c.take_trace();
        lines.extend(extra);
        lines
    });
    match result {
        Ok(lines) => Ok(lines),
        Err(e) => {
            let mut lines = c.take_trace();
            lines.push(format!("error: {e}"));
            Ok(lines)
        }
    }
}
