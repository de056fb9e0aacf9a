//! Election safety: at most one leader per term.
//!
//! Raft paper, Figure 3 ("Election Safety") and §5.2; the TLA+ specification
//! `raft.tla` checks it as `ElectionSafety`. KRaft's specifications check it
//! on each node's *known leader*, not only on the leader role, and so does
//! this predicate: two live nodes that believe in different leaders for the
//! same term are a violation too. The ghost [`History`] catches two leaders
//! of one term that were never alive at the same time.

use super::sometimes::{LEADER_ELECTED, LEADER_REPLACED_AFTER_CRASH, LEADER_RESIGNED_AND_REPLACED};
use super::{History, NodeView, Property, BOTH};

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property::always(
    "election-safety",
    BOTH,
    &[
        &LEADER_ELECTED,
        &LEADER_REPLACED_AFTER_CRASH,
        &LEADER_RESIGNED_AND_REPLACED,
    ],
    |w| election_safety(w.live, w.history),
);

// ANCHOR: election_safety
/// True when no term has two leaders, now or in the past.
pub fn election_safety(nodes: &[NodeView<'_>], history: &History) -> bool {
    let past_ok = history.leaders.values().all(|s| s.len() <= 1);
    let now_ok = nodes.iter().enumerate().all(|(i, a)| {
        nodes[i + 1..].iter().all(|b| {
            a.term != b.term
                || match (a.known_leader, b.known_leader) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                }
        })
    });
    // A believed leader must match the recorded one for that term.
    let known_ok = nodes.iter().all(|n| match n.known_leader {
        Some(l) => history
            .leaders
            .get(&n.term)
            .is_none_or(|s| s.iter().all(|&x| x == l)),
        None => true,
    });
    past_ok && now_ok && known_ok
}
// ANCHOR_END: election_safety

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{LogIndex, NodeId, Term};

    fn view(id: u32, term: u64, leader: Option<u32>) -> NodeView<'static> {
        NodeView {
            id: NodeId(id),
            term: Term(term),
            vote: None,
            is_leader: leader == Some(id),
            known_leader: leader.map(NodeId),
            log: &[],
            committed: LogIndex(0),
            voters: &crate::quorum::NO_VOTERS,
            bootstrap: &crate::quorum::NO_MAJORITY,
        }
    }

    #[test]
    fn two_leaders_in_one_term_violate() {
        let h = History::default();
        assert!(election_safety(
            &[view(0, 1, Some(0)), view(1, 2, Some(1))],
            &h
        ));
        assert!(!election_safety(
            &[view(0, 1, Some(0)), view(1, 1, Some(1))],
            &h
        ));
        // A follower that believes in another leader of the same term.
        assert!(!election_safety(
            &[view(0, 1, Some(0)), view(2, 1, Some(1))],
            &h
        ));
        let mut past = History::default();
        past.leaders
            .entry(Term(1))
            .or_default()
            .extend([NodeId(0), NodeId(1)]);
        assert!(!election_safety(&[], &past));
    }
}
