//! Builds the stateright `ActorModel` for a [`ModelConfig`]: actors, network,
//! crash bound, the properties from `specs::invariants` and their
//! "sometimes" partners, the boundary, and the ghost history.

use crate::actor::{Core, Ghost, KwActor, Msg};
use crate::config::{ModelConfig, NetworkKind, Protocol, Reconfig};
use kraftwerk_specs::invariants::{self, History, NodeView};
use kraftwerk_specs::membership::VoterChange;
use kraftwerk_specs::quorum::Quorum;
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
    p_monotonic_epoch => invariants::monotonic_epoch,
    p_monotonic_hwm => invariants::monotonic_high_watermark,
    p_majority_reached_hwm => invariants::majority_reached_hwm,
    p_consistent_committed_data => invariants::consistent_committed_data,
    p_one_uncommitted_config => invariants::one_uncommitted_config,
);

/// The committed configurations some live server knows of.
fn committed_configs(s: &KwState) -> Vec<Quorum> {
    live_views(s)
        .iter()
        .flat_map(|v| {
            v.committed_entries()
                .iter()
                .filter_map(|e| e.config().cloned())
        })
        .collect()
}

/// Sometimes (membership): a joint configuration C_old,new committed.
fn s_joint_committed(_: &KwModel, s: &KwState) -> bool {
    committed_configs(s).iter().any(|q| q.is_joint())
}

/// Sometimes (membership): the plan's final configuration committed.
fn s_final_committed(m: &KwModel, s: &KwState) -> bool {
    let fin = Quorum::Simple(m.cfg.changes.final_voters(&m.cfg.bootstrap()));
    committed_configs(s).contains(&fin)
}

/// Sometimes (membership): a server that led its current term is no
/// longer a voter and no longer leads (it stepped down or resigned).
fn s_removed_leader_stepped_down(_: &KwModel, s: &KwState) -> bool {
    live_views(s).iter().any(|v| {
        !v.is_leader
            && !v.voters.contains(v.id)
            && s.history
                .0
                .leaders
                .get(&v.term)
                .is_some_and(|ids| ids.contains(&v.id))
    })
}

/// Sometimes (membership): a server that was not a bootstrap voter votes
/// in an election of a term after the one in which it was added.
fn s_added_server_votes(m: &KwModel, s: &KwState) -> bool {
    let bootstrap = m.cfg.bootstrap();
    s.actor_states.iter().enumerate().any(|(i, a)| {
        let (Some(server), false) = (a.server(), s.crashed[i]) else {
            return false;
        };
        let v = server.node.view();
        let hard = server.node.hard();
        let added_in = v
            .log
            .iter()
            .find(|e| e.config().is_some_and(|q| q.contains(v.id)))
            .map(|e| e.term);
        !bootstrap.contains(v.id)
            && v.voters.contains(v.id)
            && hard.voted_for.is_some_and(|c| c != v.id)
            && added_in.is_some_and(|t| t < hard.term)
    })
}

/// Symmetry classes of the servers (index = server id): servers of one
/// class are interchangeable. Bootstrap voters, spare servers and
/// observers are three classes, and a server the membership plan names is
/// a class of its own (the plan is not rewritten by symmetry). Sorting
/// keeps each server within the ids of its class only when every class is
/// a contiguous range of ids in increasing order; otherwise every server
/// gets its own class (no symmetry).
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

/// Sometimes (KRaft): data of a second epoch is committed.
fn s_hwm_in_second_epoch(_: &KwModel, s: &KwState) -> bool {
    live_views(s)
        .iter()
        .any(|v| v.committed_entries().last().is_some_and(|e| e.term.0 >= 2))
}

/// Sometimes (KRaft): an observer holds a committed entry.
fn s_observer_replicates(_: &KwModel, s: &KwState) -> bool {
    live_views(s)
        .iter()
        .any(|v| !v.voters.contains(v.id) && v.committed.0 > 0)
}

/// Sometimes (KRaft): a leader resigned (sent EndQuorumEpoch) and a live
/// server leads a later epoch.
fn s_resigned_and_replaced(_: &KwModel, s: &KwState) -> bool {
    let resigned = &s.history.0.resigned;
    live_views(s)
        .iter()
        .any(|v| v.is_leader && resigned.iter().any(|&e| e < v.term))
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

/// The properties checked for `cfg`, in report order: the safety
/// properties, then their "sometimes" partners.
///
/// A partner that the configuration cannot reach by construction is left
/// out rather than reported NOT FOUND: anything about a later term needs
/// `max_term >= 2` and two voters; crash witnesses need crashes; a conflicting suffix needs
/// three voters (with two, the one holding an extra entry never votes for a
/// candidate without it); observer witnesses need observers.
pub fn properties(cfg: &ModelConfig) -> Vec<(Expectation, &'static str, Condition)> {
    use Expectation::{Always, Sometimes};
    let kraft = cfg.protocol == Protocol::Kraft;
    // A lone voter never loses its leadership: it has one term, whatever
    // the bound.
    let two_terms = cfg.max_term >= 2 && cfg.servers >= 2;
    let mut props: Vec<(Expectation, &'static str, Condition)> = vec![
        (Always, "election-safety", p_election_safety),
        (Always, "log-matching", p_log_matching),
        (Always, "leader-completeness", p_leader_completeness),
        (Always, "state-machine-safety", p_state_machine_safety),
        (Always, "leader-append-only", p_leader_append_only),
    ];
    if cfg.reconfig != Reconfig::None {
        props.push((Always, "one-uncommitted-config", p_one_uncommitted_config));
    }
    if kraft {
        props.extend([
            (Always, "monotonic-epoch", p_monotonic_epoch as Condition),
            (Always, "monotonic-high-watermark", p_monotonic_hwm),
            (
                Always,
                "majority-reached-high-watermark",
                p_majority_reached_hwm,
            ),
            (
                Always,
                "consistent-committed-data",
                p_consistent_committed_data,
            ),
        ]);
    }
    props.push((Sometimes, "leader-elected", s_leader_elected));
    props.push((Sometimes, "entry-committed", s_entry_committed));
    let mut maybe = |cond: bool, name: &'static str, f: Condition| {
        if cond {
            props.push((Sometimes, name, f));
        }
    };
    maybe(
        two_terms && cfg.values > 0,
        "new-leader-after-ack",
        s_new_leader_after_ack,
    );
    maybe(
        two_terms && cfg.crashes > 0,
        "leader-replaced-after-crash",
        s_leader_replaced_after_crash,
    );
    let truncation = if kraft {
        "diverging-epoch-truncation"
    } else {
        "conflict-truncated"
    };
    maybe(
        two_terms && cfg.servers >= 3,
        truncation,
        s_conflict_truncated,
    );
    maybe(
        kraft && two_terms,
        "high-watermark-in-second-epoch",
        s_hwm_in_second_epoch,
    );
    maybe(
        kraft && two_terms && (cfg.crashes > 0 || cfg.check_quorum),
        "leader-resigned-and-replaced",
        s_resigned_and_replaced,
    );
    let reconfig = cfg.reconfig != Reconfig::None;
    maybe(
        cfg.reconfig == Reconfig::Joint,
        "joint-config-committed",
        s_joint_committed,
    );
    maybe(reconfig, "final-config-committed", s_final_committed);
    let removes_a_voter = cfg
        .changes
        .requests()
        .flatten()
        .any(|c| matches!(c, VoterChange::Remove(n) if cfg.bootstrap().contains(*n)));
    maybe(
        reconfig && removes_a_voter,
        "removed-leader-stepped-down",
        s_removed_leader_stepped_down,
    );
    maybe(
        reconfig && cfg.spares() > 0 && cfg.max_term >= 2,
        "added-server-votes",
        s_added_server_votes,
    );
    maybe(
        kraft && cfg.observers > 0,
        "observer-replicates-committed",
        s_observer_replicates,
    );
    props
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
            c.leader_noop = cfg.reconfig != Reconfig::None;
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
