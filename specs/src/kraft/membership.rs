//! Membership change (KIP-853, and joint consensus as in [`crate::raft`]):
//! the leader's side. Configurations are records of the log
//! ([`Payload::Config`], KIP-853's VotersRecord) that take effect when
//! appended; `Node::refresh_conf` (in the module root) keeps [`Node::conf`]
//! in step with the log, and everything that counts voters reads it.

use super::{Action, Node, State};
use crate::bugs::Bug;
use crate::membership::{self, Mode, Refusal, VoterChange};
use crate::types::{LogIndex, Payload, RequestId};

impl Node {
    /// An administrator asks the leader to change the voters (KIP-853
    /// AddRaftVoter / RemoveRaftVoter, or any change in joint mode). The
    /// leader refuses while a configuration record is above its high
    /// watermark (one uncommitted change at a time) and, one voter at a
    /// time, until it knows a high watermark in its epoch (its
    /// leader-change record is committed: KIP-853's form of "commit an
    /// entry of your term first"). Otherwise it appends the configuration
    /// [`membership::propose`] gives: C_old,new in joint mode, the new set
    /// in single mode. A retried request already in the log is answered
    /// once its final configuration commits; anyone but the leader ignores
    /// the request.
    pub(super) fn handle_change_membership(
        &mut self,
        request: RequestId,
        changes: Vec<VoterChange>,
        out: &mut Vec<Action>,
    ) {
        let State::Leader(l) = &self.state else {
            return;
        };
        let hwm = self.high_watermark;
        if self.log.index_of_request(request).is_some() {
            // The request's last record is its final configuration (C_new
            // of a joint change, which carries the same id) once appended.
            let last = self
                .log
                .entries()
                .iter()
                .rposition(|e| e.request() == Some(request));
            let index = LogIndex(last.expect("the log holds the request") as u64 + 1);
            let last = self.log.get(index).and_then(|e| e.config());
            if last.is_some_and(|q| !q.is_joint()) && index <= hwm {
                out.push(Action::Reply {
                    request,
                    index,
                    term: self.hard.term,
                });
            }
            return;
        }
        let refusal = if !self.conf.is_committed(hwm) {
            Some(Refusal::ChangePending)
        } else if self.cfg.reconfig == Mode::Single
            && l.high_watermark.is_none()
            && !self.cfg.has(Bug::SingleChangeWithoutTermCommit)
        {
            Some(Refusal::NoCommitInTerm)
        } else {
            None
        };
        let proposed = match refusal {
            Some(reason) => Err(reason),
            None => membership::propose(&self.conf.quorum, &changes, self.cfg.reconfig),
        };
        match proposed {
            Ok(quorum) => self.leader_append(Payload::Config { request, quorum }, out),
            Err(reason) => out.push(Action::Refuse { request, reason }),
        }
    }

    /// Joint consensus, second step: once C_old,new is committed (the
    /// leader's high watermark in its epoch covers it), the leader appends
    /// C_new with the same request id.
    pub(super) fn maybe_leave_joint(&mut self, out: &mut Vec<Action>) {
        if !self.is_leader() || !self.conf.is_committed(self.high_watermark) {
            return;
        }
        let Some(quorum) = membership::leave_joint(&self.conf.quorum) else {
            return;
        };
        let Some(request) = self.log.get(self.conf.index).and_then(|e| e.request()) else {
            return;
        };
        self.leader_append(Payload::Config { request, quorum }, out);
    }

    /// KIP-853: a leader that removed itself resigns after the commit. Once
    /// the configuration that leaves it out is committed it takes the
    /// check-quorum path: Resigned in its epoch (so it never votes or leads
    /// in it again) and EndQuorumEpoch to the voters, best fetched first,
    /// so that the first one campaigns at once. It then fetches as an
    /// observer (asking the voters, whose answers name the next leader).
    pub(super) fn maybe_resign_removed(&mut self, out: &mut Vec<Action>) {
        if self.is_leader() && !self.is_voter() && self.conf.is_committed(self.high_watermark) {
            self.resign(out);
        }
    }
}
