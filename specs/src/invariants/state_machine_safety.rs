//! State-machine safety: no two servers apply different entries at the same
//! index, and nothing acknowledged to a client is ever replaced.
//!
//! Raft paper, Figure 3 ("State Machine Safety") and §5.4.3; `StateMachineSafety`
//! in the TLA+ proof. The current-state half compares the committed prefixes
//! of the live nodes; the ghost half compares what was acknowledged.

use super::sometimes::{ENTRY_COMMITTED, LEADER_REPLACED_AFTER_CRASH};
use super::{History, NodeView, Property, BOTH};

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property::always(
    "state-machine-safety",
    BOTH,
    &[&ENTRY_COMMITTED, &LEADER_REPLACED_AFTER_CRASH],
    |w| state_machine_safety(w.live, w.history),
);

/// True when all committed prefixes agree with each other and with every
/// acknowledged command.
pub fn state_machine_safety(nodes: &[NodeView<'_>], history: &History) -> bool {
    let prefixes_agree = nodes.iter().enumerate().all(|(i, a)| {
        nodes[i + 1..].iter().all(|b| {
            let (x, y) = (a.committed_entries(), b.committed_entries());
            let n = x.len().min(y.len());
            x[..n] == y[..n]
        })
    });
    // At most one command acknowledged per index.
    let acks_agree = history
        .acked
        .keys()
        .zip(history.acked.keys().skip(1))
        .all(|((i, r), (j, s))| i != j || r == s);
    let acks_applied = nodes.iter().all(|n| {
        history.acked.keys().all(|&(index, request)| {
            index > n.committed || n.entry(index).and_then(|e| e.request()) == Some(request)
        })
    });
    prefixes_agree && acks_agree && acks_applied
}
