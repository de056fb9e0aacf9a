//! Monotonic epoch (KRaft): a server's epoch never goes back, not even
//! across a restart.
//!
//! Kafka's `RaftEventSimulationTest.MonotonicEpoch` reads every node's
//! quorum-state file after each event and compares it with the epoch it read
//! the time before. Here the past comes from the ghost [`History`]: the
//! highest epoch each server has put in a message it sent. A live server
//! whose epoch is now below that has gone back (a restart that lost its
//! quorum state, for example).

use super::sometimes::{LEADER_ELECTED, LEADER_RESIGNED_AND_REPLACED};
use super::{History, NodeView, Property, KRAFT};

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property::always(
    "monotonic-epoch",
    KRAFT,
    &[&LEADER_ELECTED, &LEADER_RESIGNED_AND_REPLACED],
    |w| monotonic_epoch(w.live, w.history),
);

/// True when every live server's epoch is at least the highest epoch it has
/// ever sent a message in.
pub fn monotonic_epoch(nodes: &[NodeView<'_>], history: &History) -> bool {
    nodes.iter().all(|n| {
        history
            .max_epoch_sent
            .get(&n.id)
            .is_none_or(|&sent| n.term >= sent)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{LogIndex, NodeId, Term};

    fn view(id: u32, epoch: u64) -> NodeView<'static> {
        NodeView {
            id: NodeId(id),
            term: Term(epoch),
            vote: None,
            is_leader: false,
            known_leader: None,
            log: &[],
            committed: LogIndex(0),
            voters: &crate::quorum::NO_VOTERS,
            bootstrap: &crate::quorum::NO_MAJORITY,
        }
    }

    #[test]
    fn an_epoch_below_one_already_sent_violates() {
        let mut h = History::default();
        h.max_epoch_sent.insert(NodeId(1), Term(3));
        assert!(monotonic_epoch(&[view(1, 3), view(2, 0)], &h));
        assert!(monotonic_epoch(&[view(1, 4)], &h));
        assert!(!monotonic_epoch(&[view(1, 2)], &h));
    }
}
