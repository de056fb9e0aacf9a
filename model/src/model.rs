//! Builds the stateright `ActorModel` for a [`ModelConfig`]: actors, network,
//! crash bound, the properties of `specs::invariants::REGISTRY` that apply
//! to its bounds, the boundary, and the ghost history.

use crate::actor::{Core, Ghost, KwActor, Msg};
use crate::config::{ModelConfig, NetworkKind, Protocol, Reconfig};
use kraftwerk_specs::invariants::{self, History, NodeView, Scope, World, REGISTRY};
use kraftwerk_specs::membership::VoterChange;
use kraftwerk_specs::types::NodeId;
use kraftwerk_specs::{kraft, raft};
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

/// The [`World`] the properties read in `state`: the live servers' views
/// (`live`, from [`live_views`]), the ghost history, the crashed flags,
/// the servers' ghost truncation flags and the administrator's goal.
fn world<'a>(
    m: &'a KwModel,
    s: &'a KwState,
    live: &'a [NodeView<'a>],
    truncated: &'a [NodeId],
) -> World<'a> {
    let final_voters = m.actors.iter().find_map(|a| match a {
        KwActor::Admin { goal, .. } => Some(goal),
        _ => None,
    });
    World {
        live,
        history: &s.history.0,
        crashed: &s.crashed,
        truncated,
        final_voters,
    }
}

/// The live servers that once truncated their log.
fn truncated(s: &KwState) -> Vec<NodeId> {
    s.actor_states
        .iter()
        .enumerate()
        .filter(|&(i, a)| !s.crashed[i] && a.server().is_some_and(|x| x.truncated))
        .map(|(i, _)| NodeId(i as u32))
        .collect()
}

/// The condition of registry entry `I`: stateright takes `fn` pointers,
/// one per property, so there is one instance per registry index.
fn condition<const I: usize>(m: &KwModel, s: &KwState) -> bool {
    let live = live_views(s);
    let truncated = truncated(s);
    (REGISTRY[I].holds)(&world(m, s, &live, &truncated))
}

macro_rules! conditions {
    ($($i:literal)*) => { [$(condition::<$i> as Condition),*] };
}

/// One condition per registry index (more than the registry holds).
const CONDITIONS: [Condition; 32] = conditions!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
);
const _: () = assert!(
    REGISTRY.len() <= CONDITIONS.len(),
    "add indices to CONDITIONS"
);

/// Symmetry classes of the servers (index = server id): servers of one
/// class are interchangeable. Bootstrap voters, spare servers and
/// observers are three classes, and a server the membership plan names is
/// a class of its own (the plan is not rewritten by symmetry). Sorting
/// keeps each server within the ids of its class only when every class is
/// a contiguous range of ids in increasing order; otherwise every server
/// gets its own class (no symmetry).
///
/// KRaft with check-quorum is symmetric too: a resigning leader ranks its
/// preferred successors by end offset and tied voters share a rank
/// (`kraft::Node::resign`), so no id decides who campaigns (the engine's
/// symmetry test `kraft_check_quorum_is_symmetric` checks it).
pub fn symmetry_classes(cfg: &ModelConfig) -> Vec<u8> {
    let named: Vec<u32> = cfg
        .changes
        .requests()
        .flatten()
        .map(|c| match *c {
            VoterChange::Add(n) | VoterChange::Remove(n) => n.0,
        })
        .collect();
    let key = |id: u32| {
        let kind = if (id as usize) < cfg.servers {
            0
        } else if (id as usize) < cfg.servers + cfg.spares() {
            1
        } else {
            2
        };
        (kind, named.contains(&id).then_some(id))
    };
    let mut classes = Vec::new();
    let mut keys = Vec::new();
    for id in 0..cfg.nodes() as u32 {
        let k = key(id);
        let class = match keys.iter().position(|x| *x == k) {
            Some(c) => c,
            None => {
                keys.push(k);
                keys.len() - 1
            }
        };
        classes.push(class as u8);
    }
    // Contiguous and increasing: a class never reappears after another.
    let contiguous = classes.windows(2).all(|w| w[0] <= w[1]);
    if contiguous {
        classes
    } else {
        (0..cfg.nodes() as u8).collect()
    }
}

/// Bounds: terms, total crashes, and (in networks that count copies) at
/// most one copy of each message in flight.
fn within_boundary(cfg: &ModelConfig, state: &KwState) -> bool {
    let terms_ok = state.actor_states.iter().all(|a| {
        a.server()
            .is_none_or(|s| s.node.hard().term.0 <= cfg.max_term)
    });
    let restarts: usize = state
        .actor_storages
        .iter()
        .flatten()
        .map(|d| d.restarts as usize)
        .sum();
    // Only servers crash: the client and administrator stand for the
    // outside world.
    let client_up = !state.crashed[cfg.nodes()..].iter().any(|&c| c);
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
    terms_ok && client_up && crashes_ok && network_ok
}

fn record_out(_: &ModelConfig, h: &Ghost, env: Envelope<&Msg>) -> Option<Ghost> {
    h.0.record_send(NodeId(usize::from(env.src) as u32), &env.msg.0)
        .map(Ghost)
}

/// A property's condition.
type Condition = fn(&KwModel, &KwState) -> bool;

/// What a run of `cfg` can reach, for the registry's [`Need`]s.
///
/// [`Need`]: kraftwerk_specs::invariants::Need
pub fn scope(cfg: &ModelConfig) -> Scope {
    let bootstrap = cfg.bootstrap();
    Scope {
        protocol: cfg.protocol.kind(),
        voters: cfg.servers,
        max_term: cfg.max_term,
        values: cfg.values,
        crashes: cfg.crashes,
        observers: cfg.observers,
        spares: cfg.spares(),
        reconfig: (cfg.reconfig != Reconfig::None).then(|| cfg.reconfig.mode()),
        check_quorum: cfg.check_quorum,
        removes_a_voter: cfg
            .changes
            .requests()
            .flatten()
            .any(|c| matches!(c, VoterChange::Remove(n) if bootstrap.contains(*n))),
    }
}

/// The properties checked for `cfg`, in report order: every entry of
/// `specs::invariants::REGISTRY` that applies to its [`scope`] (the safety
/// properties, then their "sometimes" partners). A partner that the
/// configuration cannot reach by construction is left out rather than
/// reported NOT FOUND.
pub fn properties(cfg: &ModelConfig) -> Vec<(Expectation, &'static str, Condition)> {
    let scope = scope(cfg);
    REGISTRY
        .iter()
        .zip(CONDITIONS)
        .filter(|(p, _)| p.applies(&scope))
        .map(|(p, condition)| {
            let expectation = match p.expectation {
                invariants::Expectation::Always => Expectation::Always,
                invariants::Expectation::Sometimes => Expectation::Sometimes,
            };
            (expectation, p.name, condition)
        })
        .collect()
}

/// The cores' configuration for `cfg`.
pub fn core(cfg: &ModelConfig) -> Core {
    let voters = (0..cfg.servers as u32).map(NodeId);
    match cfg.protocol {
        Protocol::Raft => {
            let mut c = raft::Config::new(voters);
            c.bugs = cfg.bugs.clone();
            c.servers = (0..cfg.nodes() as u32).map(NodeId).collect();
            c.reconfig = cfg.reconfig.mode();
            c.leader_noop = cfg.leader_noop;
            Core::Raft(Arc::new(c))
        }
        Protocol::Kraft => {
            let observers = (cfg.servers as u32..cfg.nodes() as u32).map(NodeId);
            let mut c = kraft::Config::new(voters, observers);
            c.bugs = cfg.bugs.clone();
            c.pre_vote = cfg.pre_vote;
            c.check_quorum = cfg.check_quorum;
            c.reconfig = cfg.reconfig.mode();
            Core::Kraft(Arc::new(c))
        }
    }
}

/// Builds the model for `cfg`.
pub fn build(cfg: &ModelConfig) -> KwModel {
    let core = core(cfg);
    let classes = symmetry_classes(cfg);
    let network = match cfg.network {
        NetworkKind::UnorderedDuplicating => Network::new_unordered_duplicating([]),
        NetworkKind::UnorderedNonduplicating => Network::new_unordered_nonduplicating([]),
        NetworkKind::Ordered => Network::new_ordered([]),
    };
    let mut model = ActorModel::new(cfg.clone(), Ghost(History::default()))
        .actors((0..cfg.nodes()).map(|i| KwActor::Server {
            core: core.clone(),
            class: classes[i],
            heartbeats: cfg.heartbeats,
            client_base: cfg.nodes(),
        }))
        .actor(KwActor::Client {
            servers: cfg.nodes(),
            values: cfg.values,
        })
        .actors((cfg.reconfig != Reconfig::None).then(|| KwActor::Admin {
            servers: cfg.nodes(),
            plan: cfg.changes.clone(),
            goal: cfg.changes.final_voters(&cfg.bootstrap()),
        }))
        .init_network(network)
        .lossy_network(if cfg.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        })
        .max_crashes(cfg.crashes)
        .within_boundary(within_boundary)
        .record_msg_out(record_out);
    for (expectation, name, f) in properties(cfg) {
        model = model.property(expectation, name, f);
    }
    model
}
