//! Majority reached the high watermark (KRaft): every record below a
//! leader's high watermark is held by a majority of the voters.
//!
//! Kafka's `RaftEventSimulationTest.MajorityReachedHighWatermark` counts the
//! voters whose log end offset is at least the high watermark of the leader
//! with the largest epoch, over every node, crashed ones included (their
//! logs are durable). This predicate checks the stronger "holds the
//! leader's log up to its high watermark" (same records, not only as many),
//! for every live leader: committed records never leave a majority, so a
//! deposed leader's high watermark must pass too.
//!
//! Properties see live nodes only. A crashed voter's durable log is not in
//! `nodes`, so it is given the benefit of the doubt: the property fails
//! when the live voters *known* to lack the prefix are too many for a
//! majority to hold it (with every voter live, this is Kafka's check).

use super::{History, NodeView};
use crate::quorum::Majority;

/// True when, for every live leader, the voters known to lack its log up to
/// its high watermark are too few to leave it without a majority.
pub fn majority_reached_hwm(nodes: &[NodeView<'_>], _history: &History) -> bool {
    nodes.iter().filter(|n| n.is_leader).all(|leader| {
        let prefix = leader.committed_entries();
        let voters = Majority::new(leader.voters.iter().copied());
        let lacking = nodes
            .iter()
            .filter(|v| voters.contains(v.id) && !v.log.starts_with(prefix))
            .count();
        lacking <= voters.voters().len() - voters.needed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Entry, LogIndex, NodeId, Payload, Term};

    const VOTERS: &[NodeId] = &[NodeId(0), NodeId(1), NodeId(2)];

    fn e(t: u64) -> Entry {
        Entry {
            term: Term(t),
            payload: Payload::Noop,
        }
    }

    fn view(id: u32, log: &[Entry], committed: u64) -> NodeView<'_> {
        NodeView {
            id: NodeId(id),
            term: Term(2),
            is_leader: id == 0,
            known_leader: Some(NodeId(0)),
            log,
            committed: LogIndex(committed),
            voters: VOTERS,
        }
    }

    #[test]
    fn the_prefix_must_be_on_a_majority() {
        let h = History::default();
        let full = [e(1), e(2)];
        let short = [e(1)];
        let other = [e(1), e(3)];
        // Leader and one follower hold [1, 2]: a majority of three.
        assert!(majority_reached_hwm(
            &[view(0, &full, 2), view(1, &full, 0), view(2, &short, 0)],
            &h
        ));
        // Only the leader holds it.
        assert!(!majority_reached_hwm(
            &[view(0, &full, 2), view(1, &other, 0), view(2, &short, 0)],
            &h
        ));
        // Node 2 crashed: it may hold it, so no violation is claimed.
        assert!(majority_reached_hwm(
            &[view(0, &full, 2), view(1, &other, 0)],
            &h
        ));
        // An observer (id 3) holding it does not count.
        let v3 = NodeView {
            id: NodeId(3),
            ..view(3, &full, 0)
        };
        assert!(!majority_reached_hwm(
            &[
                view(0, &full, 2),
                view(1, &other, 0),
                view(2, &short, 0),
                v3
            ],
            &h
        ));
    }
}
