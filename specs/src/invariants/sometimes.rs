//! The "sometimes" properties: witnesses that a run reaches the states its
//! safety properties are about, so that none of them holds vacuously (a
//! model whose bounds forbid every election satisfies election safety).
//! Each safety property names its partners among these; each of these
//! needs what its bounds must allow ([`Need`]), and a run that cannot reach
//! it leaves it out rather than report it NOT FOUND.

use super::property::{Need, Property, World, BOTH, KRAFT, RAFT};
use super::NodeView;
use crate::quorum::Quorum;
use crate::types::Term;

/// A live leader exists.
pub const LEADER_ELECTED: Property =
    Property::sometimes("leader-elected", BOTH, &[], leader_elected);
/// Some live server knows an entry committed.
pub const ENTRY_COMMITTED: Property =
    Property::sometimes("entry-committed", BOTH, &[], entry_committed);
/// A leader of a later term exists after a command was acknowledged (what
/// leader completeness is about).
pub const NEW_LEADER_AFTER_ACK: Property = Property::sometimes(
    "new-leader-after-ack",
    BOTH,
    &[Need::NewLeader, Need::ClientRequest],
    new_leader_after_ack,
);
/// A leader crashed and a live server leads a later term.
pub const LEADER_REPLACED_AFTER_CRASH: Property = Property::sometimes(
    "leader-replaced-after-crash",
    BOTH,
    &[Need::NewLeader, Need::Crash],
    leader_replaced_after_crash,
);
/// Raft: a live server has removed a conflicting suffix of its log.
pub const CONFLICT_TRUNCATED: Property = Property::sometimes(
    "conflict-truncated",
    RAFT,
    &[Need::NewLeader, Need::ThreeVoters],
    truncated,
);
/// KRaft: a live server has truncated its log to a DivergingEpoch.
pub const DIVERGING_EPOCH_TRUNCATION: Property = Property::sometimes(
    "diverging-epoch-truncation",
    KRAFT,
    &[Need::NewLeader, Need::ThreeVoters],
    truncated,
);
/// KRaft: data of a second epoch is committed.
pub const HWM_IN_SECOND_EPOCH: Property = Property::sometimes(
    "high-watermark-in-second-epoch",
    KRAFT,
    &[Need::NewLeader],
    hwm_in_second_epoch,
);
/// KRaft: a leader resigned (sent EndQuorumEpoch) and a live server leads
/// a later epoch.
pub const LEADER_RESIGNED_AND_REPLACED: Property = Property::sometimes(
    "leader-resigned-and-replaced",
    KRAFT,
    &[Need::NewLeader, Need::Resignation],
    leader_resigned_and_replaced,
);
/// A joint configuration C_old,new committed.
pub const JOINT_CONFIG_COMMITTED: Property = Property::sometimes(
    "joint-config-committed",
    BOTH,
    &[Need::JointMode],
    joint_config_committed,
);
/// The membership plan's final configuration committed.
pub const FINAL_CONFIG_COMMITTED: Property = Property::sometimes(
    "final-config-committed",
    BOTH,
    &[Need::Reconfig],
    final_config_committed,
);
/// A server that led its current term is no longer a voter and no longer
/// leads (it stepped down or resigned).
pub const REMOVED_LEADER_STEPPED_DOWN: Property = Property::sometimes(
    "removed-leader-stepped-down",
    BOTH,
    &[Need::Reconfig, Need::VoterRemoval],
    removed_leader_stepped_down,
);
/// A server that was not a bootstrap voter votes in an election of a term
/// after the one in which it was added.
pub const ADDED_SERVER_VOTES: Property = Property::sometimes(
    "added-server-votes",
    BOTH,
    &[Need::Reconfig, Need::Spare, Need::SecondTerm],
    added_server_votes,
);
/// KRaft: an observer holds a committed entry.
pub const OBSERVER_REPLICATES: Property = Property::sometimes(
    "observer-replicates-committed",
    KRAFT,
    &[Need::Observer],
    observer_replicates,
);

fn leader_elected(w: &World<'_>) -> bool {
    w.live.iter().any(|v| v.is_leader)
}

fn entry_committed(w: &World<'_>) -> bool {
    w.live.iter().any(|v| v.committed.0 > 0)
}

/// True when a live server leads a term later than one of `terms`.
fn leads_after(live: &[NodeView<'_>], terms: impl Iterator<Item = Term> + Clone) -> bool {
    live.iter()
        .any(|v| v.is_leader && terms.clone().any(|t| t < v.term))
}

fn new_leader_after_ack(w: &World<'_>) -> bool {
    leads_after(w.live, w.history.acked.values().copied())
}

fn leader_replaced_after_crash(w: &World<'_>) -> bool {
    let crashed_leader_terms = w
        .history
        .leaders
        .iter()
        .filter(|(_, ids)| ids.iter().any(|&id| w.is_down(id)))
        .map(|(&t, _)| t);
    leads_after(w.live, crashed_leader_terms)
}

fn truncated(w: &World<'_>) -> bool {
    !w.truncated.is_empty()
}

fn hwm_in_second_epoch(w: &World<'_>) -> bool {
    w.live
        .iter()
        .any(|v| v.committed_entries().last().is_some_and(|e| e.term.0 >= 2))
}

fn leader_resigned_and_replaced(w: &World<'_>) -> bool {
    leads_after(w.live, w.history.resigned.iter().copied())
}

/// The committed configurations some live server knows of.
fn committed_configs<'a>(w: &'a World<'_>) -> impl Iterator<Item = &'a Quorum> + 'a {
    w.live
        .iter()
        .flat_map(|v| v.committed_entries().iter().filter_map(|e| e.config()))
}

fn joint_config_committed(w: &World<'_>) -> bool {
    committed_configs(w).any(|q| q.is_joint())
}

fn final_config_committed(w: &World<'_>) -> bool {
    let Some(fin) = w.final_voters else {
        return false;
    };
    committed_configs(w).any(|q| matches!(q, Quorum::Simple(m) if m == fin))
}

fn removed_leader_stepped_down(w: &World<'_>) -> bool {
    w.live.iter().any(|v| {
        !v.is_leader
            && !v.voters.contains(v.id)
            && w.history
                .leaders
                .get(&v.term)
                .is_some_and(|ids| ids.contains(&v.id))
    })
}

fn added_server_votes(w: &World<'_>) -> bool {
    w.live.iter().any(|v| {
        let added_in = v
            .log
            .iter()
            .find(|e| e.config().is_some_and(|q| q.contains(v.id)))
            .map(|e| e.term);
        !v.bootstrap.contains(v.id)
            && v.voters.contains(v.id)
            && v.vote.is_some_and(|c| c != v.id)
            && added_in.is_some_and(|t| t < v.term)
    })
}

fn observer_replicates(w: &World<'_>) -> bool {
    w.live
        .iter()
        .any(|v| !v.voters.contains(v.id) && v.committed.0 > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::History;
    use crate::quorum::Majority;
    use crate::types::{Entry, LogIndex, NodeId, Payload, RequestId};
    use std::sync::LazyLock;

    static BOOT: LazyLock<Majority> = LazyLock::new(|| Majority::new([0, 1].map(NodeId)));
    static GROWN: LazyLock<Quorum> =
        LazyLock::new(|| Quorum::Simple(Majority::new([0, 1, 2].map(NodeId))));

    fn view(id: u32, term: u64, is_leader: bool, log: &[Entry]) -> NodeView<'_> {
        NodeView {
            id: NodeId(id),
            term: Term(term),
            vote: None,
            is_leader,
            known_leader: None,
            log,
            committed: LogIndex(log.len() as u64),
            voters: &GROWN,
            bootstrap: &BOOT,
        }
    }

    #[test]
    fn a_leader_replaced_after_a_crash_needs_the_crashed_leader_down() {
        let mut h = History::default();
        h.leaders.entry(Term(1)).or_default().insert(NodeId(0));
        let live = [view(1, 2, true, &[])];
        let mut w = World::new(&live, &h);
        assert!(!leader_replaced_after_crash(&w));
        w.crashed = &[true];
        assert!(leader_replaced_after_crash(&w));
        let same_term = [view(1, 1, true, &[])];
        assert!(!leader_replaced_after_crash(&World {
            live: &same_term,
            ..w
        }));
    }

    #[test]
    fn an_added_server_votes_only_in_a_later_term_for_another() {
        let added = [Entry {
            term: Term(1),
            payload: Payload::Config {
                request: RequestId { client: 1, seq: 0 },
                quorum: GROWN.clone(),
            },
        }];
        let h = History::default();
        let votes = |term: u64, vote: Option<u32>| NodeView {
            vote: vote.map(NodeId),
            ..view(2, term, false, &added)
        };
        let yes = [votes(2, Some(0))];
        assert!(added_server_votes(&World::new(&yes, &h)));
        for no in [votes(1, Some(0)), votes(2, Some(2)), votes(2, None)] {
            assert!(!added_server_votes(&World::new(&[no], &h)));
        }
        // A bootstrap voter does not count.
        let boot = [NodeView {
            id: NodeId(1),
            ..votes(2, Some(0))
        }];
        assert!(!added_server_votes(&World::new(&boot, &h)));
        // The plan's final voters are {0, 1, 2}: committed on n2.
        let fin = Majority::new([0, 1, 2].map(NodeId));
        let w = World {
            final_voters: Some(&fin),
            ..World::new(&yes, &h)
        };
        assert!(final_config_committed(&w));
        assert!(!final_config_committed(&World::new(&yes, &h)));
    }
}
