//! The replicated log as both protocols hold it: the log, the history of
//! the configurations it carries, and the prefix known committed — and
//! everything both protocols do with them alike: appending and truncating
//! (durably, with the configuration in step), committing (applying in
//! order and answering the clients), de-duplicating proposals, refusing or
//! proposing membership changes, and leaving joint consensus.
//!
//! What differs is only how a leader learns what is replicated: Raft's
//! followers push acknowledgements (AppendResponse), KRaft's pull (their
//! Fetch offset). Each protocol computes its commit index or high
//! watermark its own way and hands it to [`Replica::commit_to`].
//!
//! [`Replica`] borrows a node's three fields, so that a handler can use it
//! and the node's other fields (role, hard state, settings) side by side.
//! [`ReplicaOwner`] is what a core gives the requests a leader answers
//! (proposals, membership changes, leaving joint consensus), which both
//! protocols therefore handle with the same code.

use crate::log::Log;
use crate::membership::{self, ConfigHistory, Mode, Refusal, VoterChange};
use crate::message::{ClientRequest, MembershipRequest, Message};
use crate::node::{Action, Input};
use crate::types::{Entry, LogIndex, NodeId, Payload, RequestId, Term};

/// A node's replicated log, borrowed from its fields.
pub struct Replica<'a> {
    /// The log.
    pub log: &'a mut Log,
    /// The configurations the log carries (the last one in effect).
    pub conf: &'a mut ConfigHistory,
    /// The prefix known committed (Raft: commit index; KRaft: high
    /// watermark); `<= log.last_index()`, never lowered while the node runs.
    pub committed: &'a mut LogIndex,
}

/// How a membership change request is to be answered.
pub struct ChangeRules {
    /// Joint consensus or one server at a time.
    pub mode: Mode,
    /// The leader has committed an entry of its own term (KRaft: knows a
    /// high watermark in its epoch). One server at a time needs it.
    pub committed_in_term: bool,
    /// The `single-change-without-term-commit` bug: skip that rule.
    pub skip_term_commit: bool,
}

impl Replica<'_> {
    /// Appends `entries` at the end of the log, durably; a configuration
    /// among them takes effect. Returns true when the configuration
    /// changed.
    pub fn append(&mut self, entries: Vec<Entry>, out: &mut Vec<Action>) -> bool {
        let mut changed = false;
        for e in &entries {
            self.log.push(e.clone());
            changed |= self.conf.appended(self.log.last_index(), e);
        }
        out.push(Action::AppendLog(entries));
        changed
    }

    /// Removes every entry after `last`, durably; removing a configuration
    /// entry restores the one before it. Returns true when the
    /// configuration changed.
    pub fn truncate(&mut self, last: LogIndex, out: &mut Vec<Action>) -> bool {
        self.log.truncate(last);
        out.push(Action::TruncateLog { last });
        self.conf.truncated(last)
    }

    /// Raises the committed prefix to `index` (never lowers it, never past
    /// the log end) and applies what became committed, in order. A leader
    /// (`leader_term` is its term) answers each request; a joint
    /// configuration is half a change, whose request is answered when the
    /// final one commits. Returns true when the prefix grew.
    pub fn commit_to(
        &mut self,
        index: LogIndex,
        leader_term: Option<Term>,
        out: &mut Vec<Action>,
    ) -> bool {
        let index = index.min(self.log.last_index());
        if index <= *self.committed {
            return false;
        }
        let first = self.committed.next();
        *self.committed = index;
        for i in first.0..=index.0 {
            let index = LogIndex(i);
            let entry = self.log.get(index).expect("index <= log end").clone();
            let joint = entry.config().is_some_and(|q| q.is_joint());
            let reply = entry.request().filter(|_| !joint).zip(leader_term);
            out.push(Action::Apply { index, entry });
            if let Some((request, term)) = reply {
                out.push(Action::Reply {
                    request,
                    index,
                    term,
                });
            }
        }
        true
    }

    /// A leader of `term` asked to append a client command: the payload to
    /// append, or `None` when the request id is in the log already (a
    /// retry, answered again once committed: exactly-once retries, and a
    /// bounded log in the model).
    pub fn propose(
        &self,
        request: RequestId,
        data: Vec<u8>,
        term: Term,
        out: &mut Vec<Action>,
    ) -> Option<Payload> {
        match self.log.index_of_request(request) {
            Some(index) => {
                if index <= *self.committed {
                    out.push(Action::Reply {
                        request,
                        index,
                        term,
                    });
                }
                None
            }
            None => Some(Payload::Command { request, data }),
        }
    }

    /// A leader of `term` asked to change the voters: the configuration
    /// entry to append (C_old,new in joint mode, the new set in single
    /// mode), or `None` when the request is answered or refused here. A
    /// retried request already in the log is answered once its final
    /// configuration commits. A change is refused while a configuration is
    /// uncommitted (one at a time) and, one server at a time, until the
    /// leader has committed in its term.
    pub fn change(
        &self,
        request: RequestId,
        changes: &[VoterChange],
        rules: ChangeRules,
        term: Term,
        out: &mut Vec<Action>,
    ) -> Option<Payload> {
        if self.log.index_of_request(request).is_some() {
            if let Some(index) = membership::completed_at(self.log, request, *self.committed) {
                out.push(Action::Reply {
                    request,
                    index,
                    term,
                });
            }
            return None;
        }
        let refusal = if !self.conf.is_committed(*self.committed) {
            Some(Refusal::ChangePending)
        } else if rules.mode == Mode::Single && !rules.committed_in_term && !rules.skip_term_commit
        {
            Some(Refusal::NoCommitInTerm)
        } else {
            None
        };
        let proposed = match refusal {
            Some(reason) => Err(reason),
            None => membership::propose(&self.conf.quorum, changes, rules.mode),
        };
        match proposed {
            Ok(quorum) => Some(Payload::Config { request, quorum }),
            Err(reason) => {
                out.push(Action::Refuse { request, reason });
                None
            }
        }
    }

    /// Joint consensus, second step: C_new (with the request id of
    /// C_old,new) once C_old,new is committed.
    pub fn leave_joint_entry(&self) -> Option<Payload> {
        membership::leave_joint_entry(self.conf, self.log, *self.committed)
    }
}

/// A protocol core seen by the requests a leader answers through its
/// [`Replica`]. The provided methods are the whole request handling of
/// both protocols; a core supplies what differs.
pub(crate) trait ReplicaOwner {
    /// The node's replicated log.
    fn replica(&mut self) -> Replica<'_>;
    /// The term (KRaft: epoch) it leads, or `None` when it does not lead.
    fn leading(&self) -> Option<Term>;
    /// The leader a refused client should try instead (never itself).
    fn client_hint(&self) -> Option<NodeId>;
    /// The rules a membership change is answered by now.
    fn change_rules(&self) -> ChangeRules;
    /// As leader, appends an entry of its term durably and replicates or
    /// commits it as the protocol does (Raft sends it; KRaft's followers
    /// fetch it; a leader that alone is a quorum commits at once).
    fn leader_append(&mut self, payload: Payload, out: &mut Vec<Action>);

    /// Answers `input` when it is a request — a client's command or an
    /// administrator's change, given to this node or forwarded to it as a
    /// message — and hands any other input back for the protocol's own
    /// dispatch.
    fn route_request(&mut self, input: Input, out: &mut Vec<Action>) -> Option<Input> {
        match input {
            Input::Propose { request, data }
            | Input::Receive {
                msg: Message::ClientRequest(ClientRequest { request, data }),
                ..
            } => self.handle_propose(request, data, out),
            Input::ChangeMembership { request, changes }
            | Input::Receive {
                msg: Message::MembershipRequest(MembershipRequest { request, changes }),
                ..
            } => self.handle_change_membership(request, changes, out),
            other => return Some(other),
        }
        None
    }

    /// A client command: a leader appends it (once per request id) or
    /// answers a retry that is already committed; anyone else answers
    /// [`Action::NotLeader`] with its hint.
    fn handle_propose(&mut self, request: RequestId, data: Vec<u8>, out: &mut Vec<Action>) {
        let Some(term) = self.leading() else {
            out.push(Action::NotLeader {
                request: Some(request),
                leader: self.client_hint(),
            });
            return;
        };
        if let Some(payload) = self.replica().propose(request, data, term, out) {
            self.leader_append(payload, out);
        }
    }

    /// A membership change: a leader appends the configuration entry
    /// [`Replica::change`] gives under [`ReplicaOwner::change_rules`] (or
    /// refuses, or answers a retry); anyone else answers
    /// [`Action::NotLeader`].
    fn handle_change_membership(
        &mut self,
        request: RequestId,
        changes: Vec<VoterChange>,
        out: &mut Vec<Action>,
    ) {
        let Some(term) = self.leading() else {
            out.push(Action::NotLeader {
                request: Some(request),
                leader: self.client_hint(),
            });
            return;
        };
        let rules = self.change_rules();
        if let Some(payload) = self.replica().change(request, &changes, rules, term, out) {
            self.leader_append(payload, out);
        }
    }

    /// Joint consensus, second step: once C_old,new is committed, a leader
    /// appends C_new (with the same request id).
    fn maybe_leave_joint(&mut self, out: &mut Vec<Action>) {
        if self.leading().is_none() {
            return;
        }
        if let Some(entry) = self.replica().leave_joint_entry() {
            self.leader_append(entry, out);
        }
    }
}

/// The local invariants of a replicated log whose owner is in `term`:
/// committed within the log, terms never decreasing and never past
/// `term`, the configuration history that of the log.
pub fn validate(
    log: &Log,
    conf: &ConfigHistory,
    committed: LogIndex,
    term: Term,
    bootstrap: &crate::quorum::Majority,
) -> Result<(), String> {
    let last = log.last_index();
    if committed > last {
        return Err(format!("committed {committed} > last index {last}"));
    }
    if *conf != ConfigHistory::of_log(log, bootstrap) {
        return Err("the configuration history is not the log's".into());
    }
    if log.entries().windows(2).any(|w| w[0].term > w[1].term) {
        return Err("log terms decrease".into());
    }
    if log.last_term() > term {
        return Err(format!(
            "last log term {} > current term {term}",
            log.last_term()
        ));
    }
    Ok(())
}
