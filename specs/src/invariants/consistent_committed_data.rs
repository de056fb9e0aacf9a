//! Consistent committed data (KRaft): all servers agree on every record
//! below their high watermarks, and a record once committed never changes.
//!
//! Kafka's `RaftEventSimulationTest.ConsistentCommittedData` records, over
//! the whole run, the value committed at each offset by any node and fails
//! when a node later has a different one below its high watermark. Here the
//! current half compares the committed prefixes of the live servers; the
//! past half is the ghost [`History`]'s record of the records leaders served
//! at or below the high watermark they advertised with them, which outlives
//! the servers that held them (a crash forgets a high watermark).

use super::sometimes::{HWM_IN_SECOND_EPOCH, OBSERVER_REPLICATES};
use super::{History, NodeView, Property, KRAFT};

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property::always(
    "consistent-committed-data",
    KRAFT,
    &[&HWM_IN_SECOND_EPOCH, &OBSERVER_REPLICATES],
    |w| consistent_committed_data(w.live, w.history),
);

/// True when committed prefixes agree with each other and with every record
/// ever served as committed.
pub fn consistent_committed_data(nodes: &[NodeView<'_>], history: &History) -> bool {
    let prefixes_agree = nodes.iter().enumerate().all(|(i, a)| {
        nodes[i + 1..].iter().all(|b| {
            let (x, y) = (a.committed_entries(), b.committed_entries());
            let n = x.len().min(y.len());
            x[..n] == y[..n]
        })
    });
    let one_per_index = history.served_committed.values().all(|s| s.len() == 1);
    let served_kept = nodes.iter().all(|n| {
        history
            .served_committed
            .range(..=n.committed)
            .all(|(&index, s)| n.entry(index).is_some_and(|e| s.contains(e)))
    });
    prefixes_agree && one_per_index && served_kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Entry, LogIndex, NodeId, Payload, Term};

    fn e(t: u64) -> Entry {
        Entry {
            term: Term(t),
            payload: Payload::Noop,
        }
    }

    fn view(log: &[Entry], committed: u64) -> NodeView<'_> {
        NodeView {
            id: NodeId(0),
            term: Term(3),
            vote: None,
            is_leader: false,
            known_leader: None,
            log,
            committed: LogIndex(committed),
            voters: &crate::quorum::NO_VOTERS,
            bootstrap: &crate::quorum::NO_MAJORITY,
        }
    }

    #[test]
    fn committed_prefixes_and_served_records_must_agree() {
        let mut h = History::default();
        let a = [e(1), e(2)];
        let b = [e(1), e(3)];
        assert!(consistent_committed_data(&[view(&a, 1), view(&b, 1)], &h));
        assert!(!consistent_committed_data(&[view(&a, 2), view(&b, 2)], &h));
        // Index 2 was served as committed with e(2): a node that commits
        // e(3) there breaks it even when alone.
        h.served_committed
            .entry(LogIndex(2))
            .or_default()
            .insert(e(2));
        assert!(consistent_committed_data(&[view(&a, 2)], &h));
        assert!(consistent_committed_data(&[view(&b, 1)], &h));
        assert!(!consistent_committed_data(&[view(&b, 2)], &h));
    }
}
