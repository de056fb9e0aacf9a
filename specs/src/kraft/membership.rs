//! Membership change (KIP-853, and joint consensus as in [`crate::raft`]):
//! the leader's side. Configurations are records of the log
//! ([`Payload::Config`], KIP-853's VotersRecord) that take effect when
//! appended; `Node::refresh_conf` (in the module root) keeps [`Node::conf`]
//! in step with the log, and everything that counts voters reads it.

use super::{Action, Node, State};
use crate::bugs::Bug;
use crate::membership::VoterChange;
use crate::replica::ChangeRules;
use crate::types::RequestId;

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
            out.push(Action::NotLeader {
                request: Some(request),
                leader: self.leader_hint(),
            });
            return;
        };
        let rules = ChangeRules {
            mode: self.cfg.reconfig,
            committed_in_term: l.high_watermark.is_some(),
            skip_term_commit: self.cfg.has(Bug::SingleChangeWithoutTermCommit),
        };
        let term = self.hard.term;
        if let Some(payload) = self.replica().change(request, &changes, rules, term, out) {
            self.leader_append(payload, out);
        }
    }

    /// Joint consensus, second step: once C_old,new is committed (the
    /// leader's high watermark in its epoch covers it), the leader appends
    /// C_new with the same request id.
    pub(super) fn maybe_leave_joint(&mut self, out: &mut Vec<Action>) {
        if !self.is_leader() {
            return;
        }
        if let Some(entry) = self.replica().leave_joint_entry() {
            self.leader_append(entry, out);
        }
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
