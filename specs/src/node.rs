//! The protocol-neutral vocabulary every core speaks: an [`Input`] goes into
//! a node's `step`, one ordered batch of [`Action`]s comes out, and the
//! [`Durable`] rule says what the persistence actions do to the disk.
//!
//! # The emission contract
//!
//! `step` returns the actions of that one input, and nothing else, in the
//! order the driver must carry them out (etcd-io/raft's `Ready`, openraft's
//! `Vec<Command>`):
//!
//! - a persistence action ([`Action::PersistHardState`],
//!   [`Action::TruncateLog`], [`Action::AppendLog`]) is durable before any
//!   later action of the batch is carried out — in particular before any
//!   [`Action::Send`] that depends on it (a vote granted after the vote is
//!   on disk, an acknowledgement after the entries are);
//! - timers are armed and disarmed in order ([`Action::SetTimer`] replaces
//!   an armed timer of the same kind);
//! - [`Action::Apply`] comes in index order, each entry once per run of the
//!   node; [`Action::Reply`], [`Action::Refuse`] and [`Action::NotLeader`]
//!   answer the request they name.
//!
//! A driver may carry out several batches together (group commit) as long
//! as it keeps this order within and across them.
//!
//! # A leader's batching
//!
//! One batch never sends a peer an AppendEntries that a later one of the
//! same batch makes redundant ([`coalesce`]): a Raft leader that appends
//! twice in one step (an inherited joint configuration left on election, a
//! single-voter commit that leaves joint consensus) sends each peer the
//! last, longest message only. A driver that steps several inputs together
//! ([`crate::protocol::Protocol::step_batch`]) gets the same rule across
//! them, which is how `kraftwerk-node` sends one AppendEntries per peer for
//! a burst of proposals. The model checks the rule on every step; across
//! inputs, dropping the earlier message is a loss the model's network
//! already makes.

use crate::log::Log;
use crate::membership::{Refusal, VoterChange};
use crate::message::Message;
use crate::types::{Entry, LogIndex, NodeId, RenameNodes, RequestId, Term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The timers a node arms: one per kind, never one per peer (so that the
/// model's symmetry reduction stays sound). Raft uses `Election` and
/// `Heartbeat`; KRaft ([`crate::kraft`]) uses all four.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A follower or candidate that hears nothing starts an election
    /// (KRaft: also a follower's fetch timeout).
    Election,
    /// A leader sends AppendEntries (possibly empty) to every follower.
    /// KRaft: a leader resends BeginQuorumEpoch to the voters that have not
    /// fetched in its epoch yet.
    Heartbeat,
    /// KRaft only: a follower or observer sends its next Fetch.
    Fetch,
    /// KRaft only, with check-quorum: a leader that has not been fetched
    /// from by a majority since it last checked resigns.
    CheckQuorum,
}

/// Everything that can happen to a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Input {
    /// A message from another server.
    Receive {
        /// The sender.
        from: NodeId,
        /// The message.
        msg: Message,
    },
    /// A client asks to append a command.
    Propose {
        /// Its request id.
        request: RequestId,
        /// The command.
        data: Vec<u8>,
    },
    /// A timer fired.
    Timeout(Timer),
    /// An administrator asks to change the voters.
    ChangeMembership {
        /// Its request id (the reply names it; retries are de-duplicated).
        request: RequestId,
        /// The changes, applied in order.
        changes: Vec<VoterChange>,
    },
}

/// The durable part of a node besides its log: Raft's `currentTerm` and
/// `votedFor`; KRaft's quorum-state file (leader epoch, voted id, leader
/// id).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct HardState {
    /// The latest term the node has seen.
    pub term: Term,
    /// The candidate voted for in `term`, if any.
    pub voted_for: Option<NodeId>,
    /// KRaft only: the leader known for `term`, if any. Raft never sets it
    /// (it is always `None` there).
    #[serde(default)]
    pub leader: Option<NodeId>,
}

impl RenameNodes for HardState {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        HardState {
            term: self.term,
            voted_for: self.voted_for.rename_nodes(f),
            leader: self.leader.rename_nodes(f),
        }
    }
}

/// What a node asks its driver to do, in order (see the module
/// documentation for the contract).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Make `HardState` durable before carrying out any later action.
    PersistHardState(HardState),
    /// Durably remove every log entry after `last` (keep `1..=last`).
    TruncateLog {
        /// The last index kept.
        last: LogIndex,
    },
    /// Durably append entries at the end of the log.
    AppendLog(Vec<Entry>),
    /// Send a message to another server.
    Send {
        /// The recipient.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// (Re)arm a timer; it replaces one of the same kind.
    SetTimer(Timer),
    /// Disarm a timer.
    CancelTimer(Timer),
    /// Apply a committed entry to the state machine (in index order).
    Apply {
        /// Its index.
        index: LogIndex,
        /// The entry.
        entry: Entry,
    },
    /// Tell the administrator why a membership change was refused.
    Refuse {
        /// The request.
        request: RequestId,
        /// Why.
        reason: Refusal,
    },
    /// Tell the client that its request committed at `index` (for a
    /// membership change: that its final configuration committed).
    Reply {
        /// The request.
        request: RequestId,
        /// Where it sits in the log.
        index: LogIndex,
        /// The term of the replying leader.
        term: Term,
    },
    /// This node does not lead, so it will not answer `request` (or, when
    /// `request` is `None`, any request it has not answered yet: it has
    /// just stopped leading). `leader` is the leader it knows, as a hint
    /// for the client's retry. A request it had appended may still commit
    /// under the next leader; a retry with the same id is not appended
    /// twice.
    NotLeader {
        /// The request refused, or `None` for every unanswered one.
        request: Option<RequestId>,
        /// The leader this node knows for its term, if any.
        leader: Option<NodeId>,
    },
}

/// What a node has on disk: hard state and log. [`Durable::apply`] is the
/// one rule for how persistence actions change it, which the model's
/// adapter, the runtime's storage ([`DurableStore`]) and every test harness
/// follow.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Durable {
    /// Term, vote (and KRaft's known leader).
    pub hard: HardState,
    /// The log.
    pub log: Log,
}

impl Durable {
    /// Carries out the durable part of `action`; returns true when it was
    /// a persistence action (whether or not it changed anything).
    pub fn apply(&mut self, action: &Action) -> bool {
        apply_durable(self, action).unwrap_or_else(|never: std::convert::Infallible| match never {})
    }
}

impl RenameNodes for Durable {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        Durable {
            hard: self.hard.rename_nodes(f),
            log: self.log.rename_nodes(f),
        }
    }
}

/// A place that holds a node's durable state: memory ([`Durable`]) or a
/// runtime's disk. [`apply_durable`] drives it from the actions.
pub trait DurableStore {
    /// Why a write failed.
    type Error;
    /// Replaces the hard state, durably.
    fn persist_hard(&mut self, hard: &HardState) -> Result<(), Self::Error>;
    /// Removes every entry after `last`.
    fn truncate(&mut self, last: LogIndex) -> Result<(), Self::Error>;
    /// Appends entries at the end.
    fn append(&mut self, entries: &[Entry]) -> Result<(), Self::Error>;
}

impl DurableStore for Durable {
    type Error = std::convert::Infallible;
    fn persist_hard(&mut self, hard: &HardState) -> Result<(), Self::Error> {
        self.hard = *hard;
        Ok(())
    }
    fn truncate(&mut self, last: LogIndex) -> Result<(), Self::Error> {
        self.log.truncate(last);
        Ok(())
    }
    fn append(&mut self, entries: &[Entry]) -> Result<(), Self::Error> {
        for e in entries {
            self.log.push(e.clone());
        }
        Ok(())
    }
}

/// The durable-state rule: a persistence action changes `store`; any other
/// action leaves it alone. Returns whether `action` was a persistence
/// action.
pub fn apply_durable<S: DurableStore + ?Sized>(
    store: &mut S,
    action: &Action,
) -> Result<bool, S::Error> {
    match action {
        Action::PersistHardState(h) => store.persist_hard(h)?,
        Action::TruncateLog { last } => store.truncate(*last)?,
        Action::AppendLog(entries) => store.append(entries)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// A leader's batching (see the module documentation): removes from
/// `actions` every AppendEntries whose next message to the same peer is an
/// AppendEntries that [supersedes](crate::message::AppendEntries::supersedes)
/// it. Every other action, and the order of those kept, is unchanged.
pub fn coalesce(actions: Vec<Action>) -> Vec<Action> {
    let mut redundant = vec![false; actions.len()];
    // The index of the next message kept for each peer, scanning backwards.
    let mut next: BTreeMap<NodeId, usize> = BTreeMap::new();
    for i in (0..actions.len()).rev() {
        let Action::Send { to, msg } = &actions[i] else {
            continue;
        };
        if let (Message::AppendEntries(old), Some(&j)) = (msg, next.get(to)) {
            if let Action::Send {
                msg: Message::AppendEntries(new),
                ..
            } = &actions[j]
            {
                if new.supersedes(old) {
                    redundant[i] = true;
                    continue;
                }
            }
        }
        next.insert(*to, i);
    }
    if !redundant.contains(&true) {
        return actions;
    }
    actions
        .into_iter()
        .zip(redundant)
        .filter_map(|(a, r)| (!r).then_some(a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::AppendEntries;
    use crate::types::{Payload, Term};

    fn ae(to: u32, n: usize, commit: u64) -> Action {
        Action::Send {
            to: NodeId(to),
            msg: Message::AppendEntries(AppendEntries {
                term: Term(1),
                prev_log_index: LogIndex(3),
                prev_log_term: Term(1),
                entries: vec![
                    Entry {
                        term: Term(1),
                        payload: Payload::Noop
                    };
                    n
                ],
                leader_commit: LogIndex(commit),
            }),
        }
    }

    #[test]
    fn an_append_entries_made_redundant_by_a_later_one_is_dropped() {
        let actions = vec![
            ae(2, 1, 3),
            ae(3, 1, 3),
            Action::SetTimer(Timer::Heartbeat),
            ae(2, 2, 3),
            ae(2, 1, 3), // not an extension of the one before: kept
            ae(3, 1, 2), // a lower commit index: the earlier one is kept
        ];
        assert_eq!(
            coalesce(actions),
            vec![
                ae(3, 1, 3),
                Action::SetTimer(Timer::Heartbeat),
                ae(2, 2, 3),
                ae(2, 1, 3),
                ae(3, 1, 2),
            ]
        );
    }

    #[test]
    fn a_chain_of_extensions_keeps_only_the_last() {
        let actions = vec![ae(2, 0, 1), ae(2, 1, 1), ae(2, 2, 2)];
        assert_eq!(coalesce(actions), vec![ae(2, 2, 2)]);
    }
}
