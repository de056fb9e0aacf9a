//! The ghost record that properties about the past read. It is built only
//! from messages as they are sent (the model's `record_msg_out`), so it needs
//! no access to node internals and adds nothing to a node.
//!
//! Cost in states: in a duplicating network every recorded message stays in
//! the network anyway, so the record distinguishes no extra states; with a
//! lossy or non-duplicating network, states that differ only in messages
//! already consumed or dropped are kept apart.
//!
//! KRaft's messages fill the same `leaders` and `sent` records (a leader
//! shows itself by BeginQuorumEpoch and by answering fetches; its records
//! travel in FetchResponses) and four KRaft-only fields. Raft messages never
//! touch the KRaft fields, so a Raft model's states are unchanged. The
//! KRaft fields add states only when a server's highest epoch, an epoch's
//! highest advertised high watermark or the set of served committed records
//! grows, and each of those follows a change already in some node's state.

use crate::message::{FetchResponse, Message};
use crate::types::{Entry, Epoch, LogIndex, NodeId, RenameNodes, RequestId, Term};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What has been announced and acknowledged so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct History {
    /// Every server that acted as leader of a term (by sending
    /// AppendEntries in it; KRaft: BeginQuorumEpoch or an error-free
    /// FetchResponse). More than one per term breaks election safety.
    pub leaders: BTreeMap<Term, BTreeSet<NodeId>>,
    /// Per term, the entries its leader sent, by index. An index with two
    /// different entries means a leader rewrote its own log.
    pub sent: BTreeMap<Term, BTreeMap<LogIndex, BTreeSet<Entry>>>,
    /// Commands acknowledged to clients as committed: (index, request) and
    /// the earliest term of a leader that acknowledged it.
    pub acked: BTreeMap<(LogIndex, RequestId), Term>,
    /// KRaft: the highest epoch each server has put in a message it sent.
    pub max_epoch_sent: BTreeMap<NodeId, Epoch>,
    /// KRaft: per epoch, the highest high watermark its leader advertised in
    /// a FetchResponse.
    pub hwm_sent: BTreeMap<Epoch, LogIndex>,
    /// KRaft: the first time a leader advertised a high watermark lower
    /// than one advertised before in its epoch or an earlier one.
    pub hwm_regression: Option<HwmRegression>,
    /// KRaft: records a leader served at or below the high watermark it
    /// advertised with them, by index. Two entries at one index mean
    /// committed data changed.
    pub served_committed: BTreeMap<LogIndex, BTreeSet<Entry>>,
    /// KRaft epochs whose leader resigned (sent EndQuorumEpoch).
    pub resigned: BTreeSet<Epoch>,
}

/// A high watermark advertised lower than an earlier one (KRaft).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HwmRegression {
    /// The epoch of the leader that advertised `advertised`.
    pub epoch: Epoch,
    /// The high watermark it advertised.
    pub advertised: LogIndex,
    /// The higher one advertised before, in `epoch` or an earlier epoch.
    pub earlier: LogIndex,
}

impl History {
    /// The history after `from` sent `msg`, or `None` when it adds nothing.
    pub fn record_send(&self, from: NodeId, msg: &Message) -> Option<History> {
        match msg {
            Message::AppendEntries(m) => {
                let known_leader = self.leaders.get(&m.term).is_some_and(|s| s.contains(&from));
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
            Message::BeginQuorumEpoch(m) => {
                if !self.is_new_epoch(from, m.epoch) && self.is_known_leader(from, m.epoch) {
                    return None;
                }
                let mut h = self.clone();
                h.record_epoch(from, m.epoch);
                h.leaders.entry(m.epoch).or_default().insert(from);
                Some(h)
            }
            Message::FetchResponse(m) => {
                let news = self.is_new_epoch(from, m.epoch)
                    || (m.error.is_none() && self.fetch_response_is_news(from, m));
                if !news {
                    return None;
                }
                let mut h = self.clone();
                h.record_epoch(from, m.epoch);
                if m.error.is_none() {
                    h.record_fetch_response(from, m);
                }
                Some(h)
            }
            Message::EndQuorumEpoch(m) => {
                if !self.is_new_epoch(from, m.epoch) && self.resigned.contains(&m.epoch) {
                    return None;
                }
                let mut h = self.clone();
                h.record_epoch(from, m.epoch);
                h.resigned.insert(m.epoch);
                Some(h)
            }
            Message::KraftVote(_) | Message::KraftVoteResponse(_) | Message::Fetch(_) => {
                let epoch = msg.term().expect("KRaft messages carry an epoch");
                if !self.is_new_epoch(from, epoch) {
                    return None;
                }
                let mut h = self.clone();
                h.record_epoch(from, epoch);
                Some(h)
            }
            Message::RequestVote(_)
            | Message::VoteResponse(_)
            | Message::AppendResponse(_)
            | Message::ClientRequest(_)
            | Message::MembershipRequest(_) => None,
        }
    }

    fn is_new_epoch(&self, from: NodeId, epoch: Epoch) -> bool {
        self.max_epoch_sent.get(&from).is_none_or(|&e| e < epoch)
    }

    fn is_known_leader(&self, from: NodeId, epoch: Epoch) -> bool {
        self.leaders.get(&epoch).is_some_and(|s| s.contains(&from))
    }

    /// The highest high watermark advertised in `epoch` or before it.
    fn hwm_until(&self, epoch: Epoch) -> LogIndex {
        self.hwm_sent
            .range(..=epoch)
            .map(|(_, &h)| h)
            .max()
            .unwrap_or_default()
    }

    /// True when recording the error-free response `m` would change the
    /// history (checked first, so that the common case clones nothing).
    fn fetch_response_is_news(&self, from: NodeId, m: &FetchResponse) -> bool {
        let sent = self.sent.get(&m.epoch);
        let new_record = m.records.iter().enumerate().any(|(i, e)| {
            !sent
                .and_then(|s| s.get(&m.fetch_offset.plus(i + 1)))
                .is_some_and(|set| set.contains(e))
        });
        let new_hwm = m.high_watermark.is_some_and(|hwm| {
            let best = self.hwm_sent.get(&m.epoch).copied().unwrap_or_default();
            let regression = self.hwm_regression.is_none() && hwm < self.hwm_until(m.epoch);
            let committed = m.records.iter().enumerate().any(|(i, e)| {
                let index = m.fetch_offset.plus(i + 1);
                index <= hwm
                    && !self
                        .served_committed
                        .get(&index)
                        .is_some_and(|set| set.contains(e))
            });
            hwm > best || regression || committed
        });
        !self.is_known_leader(from, m.epoch) || new_record || new_hwm
    }

    fn record_epoch(&mut self, from: NodeId, epoch: Epoch) {
        let e = self.max_epoch_sent.entry(from).or_default();
        *e = (*e).max(epoch);
    }

    /// An error-free FetchResponse comes from the leader of its epoch: it
    /// names the leader, the records it sent, and the high watermark it
    /// advertised.
    fn record_fetch_response(&mut self, from: NodeId, m: &FetchResponse) {
        self.leaders.entry(m.epoch).or_default().insert(from);
        let sent = self.sent.entry(m.epoch).or_default();
        for (i, e) in m.records.iter().enumerate() {
            sent.entry(m.fetch_offset.plus(i + 1))
                .or_default()
                .insert(e.clone());
        }
        let Some(hwm) = m.high_watermark else {
            return;
        };
        let earlier = self.hwm_until(m.epoch);
        if hwm < earlier && self.hwm_regression.is_none() {
            self.hwm_regression = Some(HwmRegression {
                epoch: m.epoch,
                advertised: hwm,
                earlier,
            });
        }
        let best = self.hwm_sent.entry(m.epoch).or_default();
        *best = (*best).max(hwm);
        for (i, e) in m.records.iter().enumerate() {
            let index = m.fetch_offset.plus(i + 1);
            if index <= hwm {
                self.served_committed
                    .entry(index)
                    .or_default()
                    .insert(e.clone());
            }
        }
    }
}

impl RenameNodes for History {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        History {
            leaders: self.leaders.rename_nodes(f),
            sent: self.sent.rename_nodes(f),
            acked: self.acked.clone(),
            max_epoch_sent: self.max_epoch_sent.rename_nodes(f),
            hwm_sent: self.hwm_sent.clone(),
            hwm_regression: self.hwm_regression,
            served_committed: self.served_committed.rename_nodes(f),
            resigned: self.resigned.clone(),
        }
    }
}
