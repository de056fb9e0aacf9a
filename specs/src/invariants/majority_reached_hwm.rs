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
//!
//! Under membership change, "the voters" is the configuration that decided
//! the high watermark. That is the one in effect at the high watermark (the
//! last configuration entry at or below it, committed) or one appended
//! after it: a leader counts with the configuration at its log end, and
//! once a later configuration commits, its majority holds everything
//! before it. So the prefix must be on a quorum of at least one of these
//! (both halves for a joint one).

use super::sometimes::{ENTRY_COMMITTED, OBSERVER_REPLICATES};
use super::{History, NodeView, Property, KRAFT};
use crate::quorum::Quorum;

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property::always(
    "majority-reached-high-watermark",
    KRAFT,
    &[&ENTRY_COMMITTED, &OBSERVER_REPLICATES],
    |w| majority_reached_hwm(w.live, w.history),
);

/// True when, for every live leader, its log up to its high watermark is
/// on a quorum of a configuration that could have decided it, counting a
/// voter that is not live (crashed: its durable log is not seen) as a
/// holder.
pub fn majority_reached_hwm(nodes: &[NodeView<'_>], _history: &History) -> bool {
    nodes.iter().filter(|n| n.is_leader).all(|leader| {
        let prefix = leader.committed_entries();
        let lacks = |id| {
            nodes
                .iter()
                .any(|v| v.id == id && !v.log.starts_with(prefix))
        };
        deciding_configs(leader).any(|q| q.agrees(|id| !lacks(id)))
    })
}

/// The configurations that may have decided `leader`'s high watermark: the
/// one in effect at it, and every one appended after it.
fn deciding_configs<'a>(leader: &'a NodeView<'_>) -> impl Iterator<Item = Quorum> + 'a {
    let hwm = leader.committed.0 as usize;
    let at_hwm = leader.log[..hwm.min(leader.log.len())]
        .iter()
        .rev()
        .find_map(|e| e.config().cloned())
        .unwrap_or_else(|| Quorum::Simple(leader.bootstrap.clone()));
    let later = leader
        .log
        .iter()
        .skip(hwm)
        .filter_map(|e| e.config().cloned());
    std::iter::once(at_hwm).chain(later)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::Majority;
    use crate::types::{Entry, LogIndex, NodeId, Payload, Term};
    use std::sync::LazyLock;

    static BOOT: LazyLock<Majority> = LazyLock::new(|| Majority::new([0, 1, 2].map(NodeId)));
    static VOTERS: LazyLock<Quorum> = LazyLock::new(|| Quorum::Simple(BOOT.clone()));

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
            vote: None,
            is_leader: id == 0,
            known_leader: Some(NodeId(0)),
            log,
            committed: LogIndex(committed),
            voters: &VOTERS,
            bootstrap: &BOOT,
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
