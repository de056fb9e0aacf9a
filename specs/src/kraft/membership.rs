//! Membership change (KIP-853, and joint consensus as in [`crate::raft`]):
//! the leader's side. Configurations are records of the log
//! ([`Payload::Config`], KIP-853's VotersRecord) that take effect when
//! appended; `Node::refresh_conf` (in the module root) keeps [`Node::conf`]
//! in step with the log, and everything that counts voters reads it.
//!
//! An administrator's request (KIP-853 AddRaftVoter / RemoveRaftVoter, or
//! any change in joint mode) is answered by the code both protocols share
//! ([`crate::replica::ReplicaOwner`]): the leader refuses while a
//! configuration record is above its high watermark (one uncommitted change
//! at a time) and, one voter at a time, until it knows a high watermark in
//! its epoch; otherwise it appends C_old,new (joint) or the new set
//! (single), and leaves joint consensus once C_old,new is committed. What
//! is KRaft's own is below: a removed leader resigns.

use super::{Action, Node};

impl Node {
    /// KIP-853: a leader that removed itself resigns after the commit. Once
    /// the configuration that leaves it out is committed it takes the
    /// check-quorum path: Resigned in its epoch (so it never votes or leads
    /// in it again) and EndQuorumEpoch to the voters, ranked best fetched
    /// first, so that the best one campaigns at once (if one is best). It then fetches as an
    /// observer (asking the voters, whose answers name the next leader).
    pub(super) fn maybe_resign_removed(&mut self, out: &mut Vec<Action>) {
        if self.is_leader() && !self.is_voter() && self.conf.is_committed(self.high_watermark) {
            self.resign(out);
        }
    }
}
