//! Counterexamples people can read: numbered steps, each an action
//! ("n0 → n1 AppendEntries{term 2, prev 1/1, entries [2/c0#0], commit 1}",
//! "n2 election timeout", "crash n1") followed by only the server fields that
//! changed, and the Explorer path that opens the same trace.

use crate::actor::{ActorState, AnyNode, ServerState};
use crate::model::{KwModel, KwState};
use kraftwerk_specs::kraft;
use kraftwerk_specs::raft::{Role, Timer};
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
}

/// `n0`, or `client` for the client actor.
pub fn actor_name(state: &KwState, id: Id) -> String {
    match state.actor_states.get(usize::from(id)).map(|a| &**a) {
        Some(ActorState::Client(c)) => format!("client{}", c.index),
        _ => format!("n{}", usize::from(id)),
    }
}

fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The labelled fields of a server, in display order: role, term (epoch),
/// vote, known leader (KRaft), log, commit index (KRaft: high watermark).
pub fn server_fields(s: &ServerState) -> Vec<(&'static str, String)> {
    match &s.node {
        AnyNode::Raft(n) => {
            let role = match &n.role {
                Role::Follower { leader: None } => "follower".to_string(),
                Role::Follower { leader: Some(l) } => format!("follower of {l}"),
                Role::Candidate { votes } => format!("candidate (votes {})", join(votes)),
                Role::Leader { progress } => format!(
                    "leader (match {})",
                    join(progress.iter().map(|(p, pr)| format!("{p}:{}", pr.matched)))
                ),
            };
            vec![
                ("role", role),
                ("term", n.hard.term.to_string()),
                (
                    "vote",
                    n.hard.voted_for.map_or("-".into(), |v| v.to_string()),
                ),
                ("log", format!("[{}]", join(n.log.entries()))),
                ("commit", n.commit.to_string()),
            ]
        }
        AnyNode::Kraft(n) => {
            let state = match &n.state {
                kraft::State::Unattached => "unattached".to_string(),
                kraft::State::Voted { candidate } => format!("voted for {candidate}"),
                kraft::State::Prospective { granted } => {
                    format!("prospective (pre-votes {})", join(granted))
                }
                kraft::State::Candidate { granted } => {
                    format!("candidate (votes {})", join(granted))
                }
                kraft::State::Leader(l) => format!(
                    "leader (start {}, acked {})",
                    l.epoch_start_offset,
                    join(l.end_offsets.iter().map(|(p, o)| format!("{p}:{o}")))
                ),
                kraft::State::Follower { leader } => format!("follower of {leader}"),
                kraft::State::Resigned => "resigned".to_string(),
            };
            vec![
                ("state", state),
                ("epoch", n.hard.term.to_string()),
                (
                    "vote",
                    n.hard.voted_for.map_or("-".into(), |v| v.to_string()),
                ),
                (
                    "leader",
                    n.hard.leader.map_or("-".into(), |v| v.to_string()),
                ),
                ("log", format!("[{}]", join(n.log.entries()))),
                ("hwm", n.high_watermark.to_string()),
            ]
        }
    }
}

/// The one-line label of an action.
pub fn action_label(
    state: &KwState,
    action: &ActorModelAction<crate::actor::Msg, Timer, ()>,
) -> String {
    match action {
        ActorModelAction::Deliver { src, dst, msg } => format!(
            "{} → {} {}",
            actor_name(state, *src),
            actor_name(state, *dst),
            msg.0
        ),
        ActorModelAction::Drop(env) => format!(
            "drop {} → {} {}",
            actor_name(state, env.src),
            actor_name(state, env.dst),
            env.msg.0
        ),
        ActorModelAction::Timeout(id, t) => format!(
            "{} {} timeout",
            actor_name(state, *id),
            format!("{t:?}").to_lowercase()
        ),
        ActorModelAction::Crash(id) => format!("crash {}", actor_name(state, *id)),
        ActorModelAction::Recover(id) => format!("recover {}", actor_name(state, *id)),
        ActorModelAction::SelectRandom { actor, .. } => {
            format!("{} random choice", actor_name(state, *actor))
        }
    }
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
    let explorer_path = format!("#/steps/{}", path.encode(model));
    let pairs = path.into_vec();
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
