//! At most one uncommitted configuration: no log holds two configuration
//! entries that are not yet committed.
//!
//! Raft dissertation §4.1 ("a leader does not begin a new change until the
//! previous one is committed") and KIP-853 ("only one uncommitted voter
//! change"); joint consensus keeps it too (C_new is appended only once
//! C_old,new commits). A configuration entry counts as committed when the
//! logs of a quorum of its *own* configuration (both halves of a joint one)
//! hold it, which is what a leader's commit of it means since configurations
//! take effect on append. Voters that are not live (crashed: their durable
//! logs are not seen) are counted as holders, so a crash never makes the
//! property fail on its own.

use super::sometimes::{
    ADDED_SERVER_VOTES, FINAL_CONFIG_COMMITTED, JOINT_CONFIG_COMMITTED, REMOVED_LEADER_STEPPED_DOWN,
};
use super::{History, Need, NodeView, Property, BOTH};
use crate::types::LogIndex;

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property {
    needs: &[Need::Reconfig],
    ..Property::always(
        "one-uncommitted-config",
        BOTH,
        &[
            &JOINT_CONFIG_COMMITTED,
            &FINAL_CONFIG_COMMITTED,
            &REMOVED_LEADER_STEPPED_DOWN,
            &ADDED_SERVER_VOTES,
        ],
        |w| one_uncommitted_config(w.live, w.history),
    )
};

/// True when every live log has at most one configuration entry that is not
/// on a quorum of its own configuration.
pub fn one_uncommitted_config(nodes: &[NodeView<'_>], _history: &History) -> bool {
    nodes.iter().all(|n| {
        let uncommitted = n.log.iter().enumerate().filter(|(i, e)| {
            let Some(q) = e.config() else {
                return false;
            };
            let index = LogIndex(*i as u64 + 1);
            let lacks = |id| {
                nodes
                    .iter()
                    .any(|v| v.id == id && v.entry(index) != Some(*e))
            };
            !q.agrees(|id| !lacks(id))
        });
        uncommitted.count() <= 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::{Majority, Quorum};
    use crate::types::{Entry, NodeId, Payload, RequestId, Term};

    fn conf(ids: &[u32]) -> Entry {
        Entry {
            term: Term(1),
            payload: Payload::Config {
                request: RequestId { client: 1, seq: 0 },
                quorum: Quorum::Simple(Majority::new(ids.iter().map(|&i| NodeId(i)))),
            },
        }
    }

    fn view<'a>(id: u32, log: &'a [Entry], boot: &'a Majority, q: &'a Quorum) -> NodeView<'a> {
        NodeView {
            id: NodeId(id),
            term: Term(1),
            vote: None,
            is_leader: id == 0,
            known_leader: Some(NodeId(0)),
            log,
            committed: LogIndex(0),
            voters: q,
            bootstrap: boot,
        }
    }

    #[test]
    fn two_configurations_off_a_quorum_fail() {
        let boot = Majority::new([0, 1, 2].map(NodeId));
        let q = Quorum::Simple(boot.clone());
        let h = History::default();
        let two = [conf(&[0, 1, 2, 3]), conf(&[1, 2, 3])];
        let one = [conf(&[0, 1, 2, 3])];
        // The first is on n0, n1, n3 (3 of 4): committed; one pending.
        let ok = [
            view(0, &two, &boot, &q),
            view(1, &one, &boot, &q),
            view(2, &[], &boot, &q),
            view(3, &one, &boot, &q),
        ];
        assert!(one_uncommitted_config(&ok, &h));
        // Only n0 and n1 hold the first: both are pending on n0's log.
        let bad = [
            view(0, &two, &boot, &q),
            view(1, &one, &boot, &q),
            view(2, &[], &boot, &q),
            view(3, &[], &boot, &q),
        ];
        assert!(!one_uncommitted_config(&bad, &h));
        // With n3 crashed (not live) it may hold it: no violation claimed.
        assert!(one_uncommitted_config(&bad[..3], &h));
    }
}
