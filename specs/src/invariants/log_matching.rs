//! Log matching: if two logs contain an entry with the same index and term,
//! the logs are identical in all entries up through that index.
//!
//! Raft paper, Figure 3 ("Log Matching") and §5.3; `LogMatching` in the TLA+
//! specifications.

use super::sometimes::{CONFLICT_TRUNCATED, DIVERGING_EPOCH_TRUNCATION, ENTRY_COMMITTED};
use super::{History, NodeView, Property, BOTH};

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property::always(
    "log-matching",
    BOTH,
    &[
        &ENTRY_COMMITTED,
        &CONFLICT_TRUNCATED,
        &DIVERGING_EPOCH_TRUNCATION,
    ],
    |w| log_matching(w.live, w.history),
);

/// True when every pair of live logs matches up to any index where their
/// terms agree.
pub fn log_matching(nodes: &[NodeView<'_>], _history: &History) -> bool {
    nodes.iter().enumerate().all(|(i, a)| {
        nodes[i + 1..].iter().all(|b| {
            // The last index where both have an entry of the same term must
            // be preceded by identical prefixes.
            let common = a.log.len().min(b.log.len());
            match (0..common).rev().find(|&k| a.log[k].term == b.log[k].term) {
                Some(k) => a.log[..=k] == b.log[..=k],
                None => true,
            }
        })
    })
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

    fn view(log: &[Entry]) -> NodeView<'_> {
        NodeView {
            id: NodeId(0),
            term: Term(3),
            vote: None,
            is_leader: false,
            known_leader: None,
            log,
            committed: LogIndex(0),
            voters: &crate::quorum::NO_VOTERS,
            bootstrap: &crate::quorum::NO_MAJORITY,
        }
    }

    #[test]
    fn diverging_suffixes_are_fine_but_a_matching_entry_needs_equal_prefixes() {
        let h = History::default();
        let a = [e(1), e(1), e(2)];
        let b = [e(1), e(1), e(3)];
        assert!(log_matching(&[view(&a), view(&b)], &h));
        let c = [e(1), e(2), e(2)];
        let d = [e(1), e(3), e(2)];
        assert!(!log_matching(&[view(&c), view(&d)], &h));
    }
}
