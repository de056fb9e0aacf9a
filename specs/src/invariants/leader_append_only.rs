//! Leader append-only: a leader never overwrites or deletes entries in its
//! log; it only appends.
//!
//! Raft paper, Figure 3 ("Leader Append-Only"); checked on the ghost
//! [`History`] of what each term's leader sent: the leader of a term never
//! sent two different entries for one index, and a live leader still holds
//! everything it sent in its term.

use super::sometimes::{ENTRY_COMMITTED, LEADER_ELECTED};
use super::{History, NodeView, Property, BOTH};

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property::always(
    "leader-append-only",
    BOTH,
    &[&LEADER_ELECTED, &ENTRY_COMMITTED],
    |w| leader_append_only(w.live, w.history),
);

/// True when no leader rewrote or lost an entry it had sent in its term.
pub fn leader_append_only(nodes: &[NodeView<'_>], history: &History) -> bool {
    let never_rewritten = history
        .sent
        .values()
        .all(|by_index| by_index.values().all(|s| s.len() <= 1));
    let still_held = nodes.iter().filter(|n| n.is_leader).all(|leader| {
        history.sent.get(&leader.term).is_none_or(|by_index| {
            by_index
                .iter()
                .all(|(&index, s)| leader.entry(index).is_some_and(|e| s.contains(e)))
        })
    });
    never_rewritten && still_held
}
