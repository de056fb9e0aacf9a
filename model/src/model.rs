//! Builds the stateright `ActorModel` for a [`ModelConfig`]: actors, network,
//! crash bound, the properties from `specs::invariants` and their
//! "sometimes" partners, the boundary, and the ghost history.

use crate::actor::{Ghost, KwActor, Msg};
use crate::config::{ModelConfig, NetworkKind};
use kraftwerk_specs::invariants::{self, History, NodeView};
use kraftwerk_specs::raft;
use kraftwerk_specs::types::NodeId;
use stateright::actor::{ActorModel, ActorModelState, Envelope, LossyNetwork, Network};
use stateright::Expectation;
use std::sync::Arc;

/// The model type.
pub type KwModel = ActorModel<KwActor, ModelConfig, Ghost>;
/// One state of the model.
pub type KwState = ActorModelState<KwActor, Ghost>;

/// The live servers' views (crashed servers' stale states are skipped).
pub fn live_views(state: &KwState) -> Vec<NodeView<'_>> {
    state
        .actor_states
        .iter()
        .enumerate()
        .filter(|(i, _)| !state.crashed.get(*i).copied().unwrap_or(false))
        .filter_map(|(_, s)| s.view())
        .collect()
}

macro_rules! always {
    ($($fn_name:ident => $pred:path),* $(,)?) => {
        $(fn $fn_name(_: &KwModel, s: &KwState) -> bool {
            $pred(&live_views(s), &s.history.0)
        })*
    };
}

always!(
    p_election_safety => invariants::election_safety,
    p_log_matching => invariants::log_matching,
    p_leader_completeness => invariants::leader_completeness,
    p_state_machine_safety => invariants::state_machine_safety,
    p_leader_append_only => invariants::leader_append_only,
);

/// Sometimes: a live leader exists.
fn s_leader_elected(_: &KwModel, s: &KwState) -> bool {
    live_views(s).iter().any(|v| v.is_leader)
}

/// Sometimes: some live server knows an entry committed.
fn s_entry_committed(_: &KwModel, s: &KwState) -> bool {
    live_views(s).iter().any(|v| v.committed.0 > 0)
}

/// Sometimes: a leader of a later term exists after a command was
/// acknowledged (what leader completeness is about).
fn s_new_leader_after_ack(_: &KwModel, s: &KwState) -> bool {
    let acked_terms: Vec<_> = s.history.0.acked.values().copied().collect();
    live_views(s)
        .iter()
        .any(|v| v.is_leader && acked_terms.iter().any(|&t| t < v.term))
}

/// Sometimes: a leader crashed and a live server leads a later term.
fn s_leader_replaced_after_crash(_: &KwModel, s: &KwState) -> bool {
    let crashed_leader_terms: Vec<_> = s
        .history
        .0
        .leaders
        .iter()
        .filter(|(_, ids)| {
            ids.iter()
                .any(|id| s.crashed.get(id.0 as usize).copied().unwrap_or(false))
        })
        .map(|(t, _)| *t)
        .collect();
    live_views(s)
        .iter()
        .any(|v| v.is_leader && crashed_leader_terms.iter().any(|&t| t < v.term))
}

/// Sometimes: a live server has removed a conflicting suffix of its log.
fn s_conflict_truncated(_: &KwModel, s: &KwState) -> bool {
    s.actor_states
        .iter()
        .enumerate()
        .any(|(i, a)| !s.crashed[i] && a.server().is_some_and(|x| x.truncated))
}

/// Bounds: terms, total crashes, and (in networks that count copies) at
/// most one copy of each message in flight.
fn within_boundary(cfg: &ModelConfig, state: &KwState) -> bool {
    let terms_ok = state.actor_states.iter().all(|a| {
        a.server()
            .is_none_or(|s| s.node.hard.term.0 <= cfg.max_term)
    });
    let restarts: usize = state
        .actor_storages
        .iter()
        .flatten()
        .map(|d| d.restarts as usize)
        .sum();
    let down = state.crashed.iter().filter(|&&c| c).count();
    let crashes_ok = restarts + down <= cfg.crashes;
    let network_ok = match &state.network {
        Network::UnorderedDuplicating(..) => true,
        Network::UnorderedNonDuplicating(m) => m.values().all(|&n| n <= 1),
        Network::Ordered(m) => m.values().all(|q| {
            q.iter()
                .enumerate()
                .all(|(i, x)| !q.iter().skip(i + 1).any(|y| y == x))
        }),
    };
    terms_ok && crashes_ok && network_ok
}

fn record_out(_: &ModelConfig, h: &Ghost, env: Envelope<&Msg>) -> Option<Ghost> {
    h.0.record_send(NodeId(usize::from(env.src) as u32), &env.msg.0)
        .map(Ghost)
}

/// A property's condition.
type Condition = fn(&KwModel, &KwState) -> bool;

/// Builds the model for `cfg`.
pub fn build(cfg: &ModelConfig) -> KwModel {
    let mut core = raft::Config::new((0..cfg.servers as u32).map(NodeId));
    core.bugs = cfg.bugs.clone();
    let core = Arc::new(core);
    let network = match cfg.network {
        NetworkKind::UnorderedDuplicating => Network::new_unordered_duplicating([]),
        NetworkKind::UnorderedNonduplicating => Network::new_unordered_nonduplicating([]),
        NetworkKind::Ordered => Network::new_ordered([]),
    };
    let mut model = ActorModel::new(cfg.clone(), Ghost(History::default()))
        .actors((0..cfg.servers).map(|_| KwActor::Server { cfg: core.clone() }))
        .actor(KwActor::Client {
            servers: cfg.servers,
            values: cfg.values,
        })
        .init_network(network)
        .lossy_network(if cfg.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        })
        .max_crashes(cfg.crashes)
        .within_boundary(within_boundary)
        .record_msg_out(record_out);
    let props: [(Expectation, &'static str, Condition); 10] = [
        (Expectation::Always, "election-safety", p_election_safety),
        (Expectation::Always, "log-matching", p_log_matching),
        (
            Expectation::Always,
            "leader-completeness",
            p_leader_completeness,
        ),
        (
            Expectation::Always,
            "state-machine-safety",
            p_state_machine_safety,
        ),
        (
            Expectation::Always,
            "leader-append-only",
            p_leader_append_only,
        ),
        (Expectation::Sometimes, "leader-elected", s_leader_elected),
        (Expectation::Sometimes, "entry-committed", s_entry_committed),
        (
            Expectation::Sometimes,
            "new-leader-after-ack",
            s_new_leader_after_ack,
        ),
        (
            Expectation::Sometimes,
            "leader-replaced-after-crash",
            s_leader_replaced_after_crash,
        ),
        (
            Expectation::Sometimes,
            "conflict-truncated",
            s_conflict_truncated,
        ),
    ];
    for (expectation, name, f) in props {
        model = model.property(expectation, name, f);
    }
    model
}
