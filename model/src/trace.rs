//! Counterexamples people can read: numbered steps, each an action
//! ("n0 → n1 AppendEntries{term 2, prev 1/1, entries [2/c0#0], commit 1}",
//! "n2 election timeout", "crash n1") followed by only the server fields that
//! changed, and the Explorer path that opens the same trace.

use crate::actor::{ActorState, ServerState};
use crate::model::{KwModel, KwState};
use kraftwerk_specs::node::Timer;
use kraftwerk_specs::protocol::ProtocolKind;
use serde::Serialize;
use stateright::actor::{ActorModelAction, Id};
use stateright::Path;

/// One field of one server that changed in a step.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// The server (`n0`).
    pub node: String,
    /// The field (`role`, `term`, `vote`, `log`, `commit`, `up`).
    pub field: &'static str,
    /// Value before the step.
    pub from: String,
    /// Value after the step.
    pub to: String,
}

/// One step of a trace.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// 1-based step number.
    pub n: usize,
    /// What happened.
    pub action: String,
    /// The server fields it changed.
    pub changes: Vec<Change>,
}

/// A whole trace from the initial state.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The Explorer's URL fragment for the last state (`#/steps/0/3/1`).
    pub explorer_path: String,
    /// Every state's servers, from the initial state on (steps + 1 of
    /// them): what `--trace-out` writes. Not part of the `--json` line.
    #[serde(skip)]
    pub states: Vec<Vec<ServerSnapshot>>,
}

/// One log entry of a [`ServerSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntrySnapshot {
    /// The term (epoch) it was created in.
    pub term: u64,
    /// `c0#1` for a client command, `noop` for a no-op or leader-change
    /// record.
    pub payload: String,
}

/// A server's fields in one state of a trace, typed (for `--trace-out`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerSnapshot {
    /// `n0`.
    pub node: String,
    /// False while crashed.
    pub up: bool,
    /// Raft: follower, candidate, leader. KRaft: unattached, voted,
    /// prospective, candidate, leader, follower, resigned.
    pub role: String,
    /// The term (KRaft: epoch).
    pub term: u64,
    /// The server voted for in `term`.
    pub vote: Option<String>,
    /// The leader this server knows of (itself when leading).
    pub leader: Option<String>,
    /// The log.
    pub log: Vec<EntrySnapshot>,
    /// Raft: the commit index. KRaft: the high watermark.
    pub commit: u64,
}

fn entry_snapshots(entries: &[kraftwerk_specs::types::Entry]) -> Vec<EntrySnapshot> {
    entries
        .iter()
        .map(|e| EntrySnapshot {
            term: e.term.0,
            payload: e
                .request()
                .map_or_else(|| "noop".to_string(), |r| r.to_string()),
        })
        .collect()
}

/// The servers of one state (the client actor is left out).
pub fn snapshot(state: &KwState) -> Vec<ServerSnapshot> {
    let mut out = Vec::new();
    for (i, a) in state.actor_states.iter().enumerate() {
        let Some(s) = a.server() else { continue };
        let node = actor_name(state, Id::from(i));
        let up = !state.crashed[i];
        let n = &s.node;
        let hard = n.hard();
        let leader = match n.kind() {
            // A Raft follower's leader is volatile: the role knows it.
            ProtocolKind::Raft => n.known_leader(),
            ProtocolKind::Kraft => hard.leader,
        };
        let snap = ServerSnapshot {
            node,
            up,
            role: n.role_name().to_string(),
            term: hard.term.0,
            vote: hard.voted_for.map(|v| v.to_string()),
            leader: leader.map(|l| l.to_string()),
            log: entry_snapshots(n.log().entries()),
            commit: n.committed().0,
        };
        out.push(snap);
    }
    out
}

/// `n0`, or `client` for the client actor.
pub fn actor_name(state: &KwState, id: Id) -> String {
    match state.actor_states.get(usize::from(id)).map(|a| &**a) {
        Some(ActorState::Client(c)) => format!("client{}", c.index),
        Some(ActorState::Admin(_)) => "admin".to_string(),
        _ => format!("n{}", usize::from(id)),
    }
}

/// Items separated by single spaces.
pub fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A log as `[1/c0#0 2/noop]`.
pub fn log_text(log: &kraftwerk_specs::log::Log) -> String {
    format!("[{}]", join(log.entries()))
}

/// The labelled fields of a server, in display order: role, term (epoch),
/// vote, known leader (KRaft), log, commit index (KRaft: high watermark).
pub fn server_fields(s: &ServerState) -> Vec<(&'static str, String)> {
    let n = &s.node;
    let kind = n.kind();
    let hard = n.hard();
    let id_or_dash =
        |id: Option<kraftwerk_specs::types::NodeId>| id.map_or("-".into(), |v| v.to_string());
    let mut fields = vec![
        (
            if kind == ProtocolKind::Raft {
                "role"
            } else {
                "state"
            },
            n.role_detail(),
        ),
        (kind.term_word(), hard.term.to_string()),
        ("vote", id_or_dash(hard.voted_for)),
    ];
    if kind == ProtocolKind::Kraft {
        fields.push(("leader", id_or_dash(hard.leader)));
    }
    fields.push(("log", log_text(n.log())));
    fields.push((kind.commit_word(), n.committed().to_string()));
    fields
}

/// The one-line label of an action.
pub fn action_label(
    state: &KwState,
    action: &ActorModelAction<crate::actor::Msg, Timer, ()>,
) -> String {
    action_label_with(|id| actor_name(state, id), action)
}

/// The one-line label of an action, with actors named by `name`.
pub fn action_label_with(
    name: impl Fn(Id) -> String,
    action: &ActorModelAction<crate::actor::Msg, Timer, ()>,
) -> String {
    match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!("{} → {} {}", name(*src), name(*dst), msg.0)
        }
        ActorModelAction::Drop(env) => {
            format!("drop {} → {} {}", name(env.src), name(env.dst), env.msg.0)
        }
        ActorModelAction::Timeout(id, t) => {
            format!("{} {} timeout", name(*id), format!("{t:?}").to_lowercase())
        }
        ActorModelAction::Crash(id) => format!("crash {}", name(*id)),
        ActorModelAction::Recover(id) => format!("recover {}", name(*id)),
        ActorModelAction::SelectRandom { actor, .. } => {
            format!("{} random choice", name(*actor))
        }
    }
}

/// The server fields a step changed (and servers going down or up).
pub fn step_changes(before: &KwState, after: &KwState) -> Vec<Change> {
    diff(before, after)
}

fn diff(before: &KwState, after: &KwState) -> Vec<Change> {
    let mut changes = Vec::new();
    for (i, (a, b)) in before
        .actor_states
        .iter()
        .zip(&after.actor_states)
        .enumerate()
    {
        let node = actor_name(after, Id::from(i));
        let (was_up, is_up) = (!before.crashed[i], !after.crashed[i]);
        if was_up != is_up {
            changes.push(Change {
                node: node.clone(),
                field: "up",
                from: was_up.to_string(),
                to: is_up.to_string(),
            });
        }
        if let (Some(x), Some(y)) = (a.server(), b.server()) {
            for ((field, from), (_, to)) in server_fields(x).into_iter().zip(server_fields(y)) {
                if from != to {
                    changes.push(Change {
                        node: node.clone(),
                        field,
                        from,
                        to,
                    });
                }
            }
        }
    }
    changes
}

/// Renders a path found by the checker.
pub fn render_trace(
    model: &KwModel,
    path: Path<KwState, <KwModel as stateright::Model>::Action>,
) -> Trace {
    // The Explorer offers only the steps that lead somewhere within the
    // bounds, so its action indices are those of its own view.
    let explorer_path = format!(
        "#/steps/{}",
        path.encode(&crate::explore::View::new(model.clone()))
    );
    let pairs = path.into_vec();
    let states = pairs.iter().map(|(s, _)| snapshot(s)).collect();
    let mut steps = Vec::new();
    for (k, window) in pairs.windows(2).enumerate() {
        let (before, action) = &window[0];
        let (after, _) = &window[1];
        if let Some(action) = action {
            steps.push(Step {
                n: k + 1,
                action: action_label(before, action),
                changes: diff(before, after),
            });
        }
    }
    Trace {
        steps,
        explorer_path,
        states,
    }
}

impl Trace {
    /// The trace as indented text lines.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for step in &self.steps {
            s.push_str(&format!("  {:>3}. {}\n", step.n, step.action));
            for c in &step.changes {
                s.push_str(&format!(
                    "         {} {}: {} → {}\n",
                    c.node, c.field, c.from, c.to
                ));
            }
        }
        s.push_str(&format!("  Explorer: {}\n", self.explorer_path));
        s
    }
}

/// The ITF (Informal Trace Format of Apalache and Quint) variables of a
/// protocol's traces, in order. Each is a map from server name to value.
pub fn itf_vars(protocol: &str) -> [&'static str; 7] {
    if protocol == "kraft" {
        ["state", "epoch", "vote", "leader", "log", "hwm", "up"]
    } else {
        ["role", "term", "vote", "leader", "log", "commit", "up"]
    }
}

fn itf_int(n: u64) -> serde_json::Value {
    serde_json::json!({ "#bigint": n.to_string() })
}

fn itf_option(v: &Option<String>) -> serde_json::Value {
    match v {
        Some(x) => serde_json::json!({ "tag": "Some", "value": x }),
        None => serde_json::json!({ "tag": "None", "value": { "#tup": [] } }),
    }
}

impl Trace {
    /// The trace in ITF: `{"#meta", "vars", "states"}`, one state per
    /// position of the trace (steps + 1, the initial state first). Integers
    /// are `{"#bigint": "N"}`, log entries records, logs sequences (arrays),
    /// per-server variables maps (`{"#map": [[server, value], ...]}`), an
    /// absent vote or leader Quint's `None` variant.
    pub fn to_itf(&self, protocol: &str, description: &str) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let vars = itf_vars(protocol);
        let states: Vec<Value> = self
            .states
            .iter()
            .enumerate()
            .map(|(i, servers)| {
                let mut meta = Map::new();
                meta.insert("index".into(), json!(i));
                if i > 0 {
                    if let Some(step) = self.steps.get(i - 1) {
                        meta.insert("action".into(), json!(step.action));
                    }
                }
                let mut st = Map::new();
                st.insert("#meta".into(), Value::Object(meta));
                for (k, var) in vars.iter().enumerate() {
                    let pairs: Vec<Value> = servers
                        .iter()
                        .map(|s| {
                            let v = match k {
                                0 => json!(s.role),
                                1 => itf_int(s.term),
                                2 => itf_option(&s.vote),
                                3 => itf_option(&s.leader),
                                4 => Value::Array(
                                    s.log
                                        .iter()
                                        .map(|e| {
                                            json!({"term": itf_int(e.term), "payload": e.payload})
                                        })
                                        .collect(),
                                ),
                                5 => itf_int(s.commit),
                                _ => json!(s.up),
                            };
                            json!([s.node, v])
                        })
                        .collect();
                    st.insert((*var).into(), json!({ "#map": pairs }));
                }
                Value::Object(st)
            })
            .collect();
        json!({
            "#meta": {
                "format": "ITF",
                "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
                "source": "kraftwerk",
                "description": description,
            },
            "vars": vars,
            "states": states,
        })
    }

    /// The trace as one JSON document for `--trace-out`: the property, the
    /// configuration, the steps, the Explorer path and every state's
    /// servers.
    pub fn to_json_doc(&self, property: &str, config: &str) -> serde_json::Value {
        serde_json::json!({
            "property": property,
            "config": config,
            "steps": self.steps,
            "explorer_path": self.explorer_path,
            "states": self.states,
        })
    }
}
