//! Leader completeness: an entry committed in a term is present in the logs
//! of the leaders of all higher terms.
//!
//! Raft paper, Figure 3 ("Leader Completeness") and §5.4; the TLA+ proof's
//! `LeaderCompleteness`. "Committed in term t" is taken from the ghost
//! [`History`]: a leader of term t acknowledged the command to its client.

use super::sometimes::NEW_LEADER_AFTER_ACK;
use super::{History, NodeView, Property, BOTH};

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property =
    Property::always("leader-completeness", BOTH, &[&NEW_LEADER_AFTER_ACK], |w| {
        leader_completeness(w.live, w.history)
    });

/// True when every live leader holds every command acknowledged in an
/// earlier term, at the index it was acknowledged at.
pub fn leader_completeness(nodes: &[NodeView<'_>], history: &History) -> bool {
    nodes.iter().filter(|n| n.is_leader).all(|leader| {
        history
            .acked
            .iter()
            .filter(|(_, &term)| term < leader.term)
            .all(|(&(index, request), _)| {
                leader.entry(index).and_then(|e| e.request()) == Some(request)
            })
    })
}
