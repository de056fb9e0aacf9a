//! The ghost record that properties about the past read. It is built only
//! from messages as they are sent (the model's `record_msg_out`), so it needs
//! no access to node internals and adds nothing to a node.
//!
//! Cost in states: in a duplicating network every recorded message stays in
//! the network anyway, so the record distinguishes no extra states; with a
//! lossy or non-duplicating network, states that differ only in messages
//! already consumed or dropped are kept apart.

use crate::message::Message;
use crate::types::{Entry, LogIndex, NodeId, RenameNodes, RequestId, Term};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What has been announced and acknowledged so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct History {
    /// Every server that acted as leader of a term (by sending
    /// AppendEntries in it). More than one per term breaks election safety.
    pub leaders: BTreeMap<Term, BTreeSet<NodeId>>,
    /// Per term, the entries its leader sent, by index. An index with two
    /// different entries means a leader rewrote its own log.
    pub sent: BTreeMap<Term, BTreeMap<LogIndex, BTreeSet<Entry>>>,
    /// Commands acknowledged to clients as committed: (index, request) and
    /// the earliest term of a leader that acknowledged it.
    pub acked: BTreeMap<(LogIndex, RequestId), Term>,
}

impl History {
    /// The history after `from` sent `msg`, or `None` when it adds nothing.
    pub fn record_send(&self, from: NodeId, msg: &Message) -> Option<History> {
        match msg {
            Message::AppendEntries(m) => {
                let known_leader = self
                    .leaders
                    .get(&m.term)
                    .is_some_and(|s| s.contains(&from));
                let new_entries = m.entries.iter().enumerate().any(|(i, e)| {
                    !self
                        .sent
                        .get(&m.term)
                        .and_then(|s| s.get(&m.prev_log_index.plus(i + 1)))
                        .is_some_and(|set| set.contains(e))
                });
                if known_leader && !new_entries {
                    return None;
                }
                let mut h = self.clone();
                h.leaders.entry(m.term).or_default().insert(from);
                let sent = h.sent.entry(m.term).or_default();
                for (i, e) in m.entries.iter().enumerate() {
                    sent.entry(m.prev_log_index.plus(i + 1))
                        .or_default()
                        .insert(e.clone());
                }
                Some(h)
            }
            Message::ClientReply(m) => {
                let key = (m.index, m.request);
                if self.acked.get(&key).is_some_and(|&t| t <= m.term) {
                    return None;
                }
                let mut h = self.clone();
                h.acked.insert(key, m.term);
                Some(h)
            }
            _ => None,
        }
    }
}

impl RenameNodes for History {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        History {
            leaders: self.leaders.rename_nodes(f),
            sent: self.sent.clone(),
            acked: self.acked.clone(),
        }
    }
}
