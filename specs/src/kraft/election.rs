//! Elections (KIP-595, KIP-996): the election timeout, pre-vote and vote,
//! becoming leader, BeginQuorumEpoch, EndQuorumEpoch and check-quorum
//! resignation. Votes are asked of, granted among and counted in the
//! configuration at the end of each node's log (both halves of a joint
//! one).

use super::{Action, HardState, LeaderState, Node, State, Timer};
use crate::message::{BeginQuorumEpoch, EndQuorumEpoch, KraftVote, KraftVoteResponse, Message};
use crate::types::{Entry, LogIndex, NodeId, Payload};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

impl Node {
    /// A voter that heard from no leader in time (for a follower: its fetch
    /// timeout) starts an election; leaders and observers (any node that is
    /// not a voter of its configuration) ignore it.
    pub(super) fn handle_election_timeout(&mut self, out: &mut Vec<Action>) {
        if !self.is_voter() || self.is_leader() {
            return;
        }
        self.start_election(out);
    }

    /// Campaigns: through a pre-vote round when `pre_vote` is on, except
    /// from Resigned. A resigned leader knows its epoch has no leader, so a
    /// pre-vote would spare nobody, and the voters still following it
    /// would refuse one, naming it as their leader: no one could ever
    /// start the next epoch (found by the fault tests after a leader was
    /// restarted). As in Kafka, Resigned goes straight to Candidate.
    pub(super) fn start_election(&mut self, out: &mut Vec<Action>) {
        if self.cfg.pre_vote && self.state != State::Resigned {
            self.become_prospective(out);
        } else {
            self.become_candidate(out);
        }
    }

    /// KIP-996: asks the voters whether it could win, in its current epoch.
    /// Nothing durable changes, so nothing is persisted.
    fn become_prospective(&mut self, out: &mut Vec<Action>) {
        let granted = BTreeSet::from([self.id]);
        self.set_state(State::Prospective { granted }, out);
        self.send_votes(true, out);
        self.maybe_end_election(out);
    }

    /// Bumps the epoch and votes for itself, durably, before asking.
    fn become_candidate(&mut self, out: &mut Vec<Action>) {
        self.hard = HardState {
            term: self.hard.term.next(),
            voted_for: Some(self.id),
            leader: None,
        };
        self.persist(out);
        let granted = BTreeSet::from([self.id]);
        self.set_state(State::Candidate { granted }, out);
        self.send_votes(false, out);
        self.maybe_end_election(out);
    }

    /// Sends Vote (or a pre-vote) for the current epoch to the other voters.
    pub(super) fn send_votes(&self, pre_vote: bool, out: &mut Vec<Action>) {
        let m = KraftVote {
            epoch: self.hard.term,
            last_epoch: self.log.last_term(),
            last_offset: self.log.last_index(),
            pre_vote,
        };
        for to in self.other_voters() {
            out.push(Action::Send {
                to,
                msg: Message::KraftVote(m.clone()),
            });
        }
    }

    /// A nominee holding a majority moves on: a prospective candidate to a
    /// candidacy, a candidate to leadership.
    pub(super) fn maybe_end_election(&mut self, out: &mut Vec<Action>) {
        let deciding = self.deciding_quorum();
        let won = |granted: &BTreeSet<NodeId>| deciding.agrees(|v| granted.contains(&v));
        match &self.state {
            State::Prospective { granted } if won(granted) => self.become_candidate(out),
            State::Candidate { granted } if won(granted) => self.become_leader(out),
            _ => {}
        }
    }

    /// Vote request. A lower epoch is refused with the newer one; a higher
    /// epoch first moves this node to Unattached in it (even for a
    /// pre-vote, as in Kafka). A granted real vote is persisted before the
    /// answer.
    pub(super) fn handle_vote(&mut self, from: NodeId, m: KraftVote, out: &mut Vec<Action>) {
        if m.epoch > self.hard.term {
            self.become_unattached(m.epoch, out);
        }
        let granted = m.epoch == self.hard.term && self.can_grant(from, &m);
        if granted && !m.pre_vote && self.hard.voted_for.is_none() {
            self.hard.voted_for = Some(from);
            self.persist(out);
            if self.state == State::Unattached {
                self.set_state(State::Voted { candidate: from }, out);
            } else {
                // A Prospective keeps its round going with the vote kept
                // (Kafka: prospectiveAddVotedState) and resets its timer.
                self.set_timer(Timer::Election, out);
            }
        }
        out.push(Action::Send {
            to: from,
            msg: Message::KraftVoteResponse(KraftVoteResponse {
                epoch: self.hard.term,
                leader: self.hard.leader,
                granted,
                pre_vote: m.pre_vote,
            }),
        });
    }

    /// REFERENCE item 4: who may grant what, in the request's epoch. Only a
    /// voter of its configuration grants, and only to a candidate of it (a
    /// refusal is always safe: the candidate counts in its own
    /// configuration).
    fn can_grant(&self, from: NodeId, m: &KraftVote) -> bool {
        if !self.is_voter() || !self.conf.quorum.contains(from) || from == self.id {
            return false;
        }
        let log_ok = self.log.is_up_to_date(m.last_epoch, m.last_offset);
        match &self.state {
            // They follow (or are) a leader of the epoch, or gave it up.
            State::Leader(_) | State::Follower { .. } | State::Resigned => false,
            // A candidate's own vote is taken; a pre-vote costs nothing.
            State::Candidate { .. } => m.pre_vote && log_ok,
            State::Unattached | State::Voted { .. } | State::Prospective { .. } => {
                if m.pre_vote {
                    log_ok
                } else if let Some(voted) = self.hard.voted_for {
                    voted == from
                } else {
                    self.hard.leader.is_none() && log_ok
                }
            }
        }
    }

    /// Vote response: a newer epoch or a named leader is followed first;
    /// then a granted (pre-)vote of this epoch counts for a nominee of the
    /// same kind.
    pub(super) fn handle_vote_response(
        &mut self,
        from: NodeId,
        m: KraftVoteResponse,
        out: &mut Vec<Action>,
    ) {
        if m.epoch < self.hard.term || self.maybe_transition(m.leader, m.epoch, out) {
            return;
        }
        if !self.conf.quorum.contains(from) {
            return;
        }
        if !m.granted {
            self.follow_refusing_leader(from, m.pre_vote, out);
            return;
        }
        let counted = match &mut self.state {
            State::Prospective { granted } if m.pre_vote => granted.insert(from),
            State::Candidate { granted } if !m.pre_vote => granted.insert(from),
            _ => false,
        };
        if counted {
            self.maybe_end_election(out);
        }
    }

    /// A Prospective refused by the leader it knew, in person, goes back
    /// to following it: that leader is alive and leads the epoch. Staying
    /// Prospective, it would never fetch again, and the leader does not
    /// resend BeginQuorumEpoch to a voter that fetched in its epoch (found
    /// by the fault tests: a follower cut off for an election timeout
    /// never rejoined). A refusal from another voter that merely names that
    /// leader proves nothing, as a follower refuses pre-votes while its own
    /// timer runs even if the leader is dead: following the leader again
    /// on such refusals, the survivors of a dead leader would pull each
    /// other back for ever (the real-cluster tests caught that too).
    fn follow_refusing_leader(&mut self, from: NodeId, pre_vote: bool, out: &mut Vec<Action>) {
        let prospective = matches!(self.state, State::Prospective { .. });
        if pre_vote && prospective && self.hard.leader == Some(from) && from != self.id {
            self.become_follower(self.hard.term, from, out);
        }
    }

    // ANCHOR: become_leader
    /// KIP-595: the new leader records where its epoch starts, makes its
    /// leadership durable, appends the leader-change record and tells the
    /// voters.
    fn become_leader(&mut self, out: &mut Vec<Action>) {
        let epoch_start_offset = self.log.last_index();
        self.hard.leader = Some(self.id);
        self.persist(out);
        let record = Entry {
            term: self.hard.term,
            payload: Payload::Noop,
        };
        self.append_records(vec![record], out);
        let leader = LeaderState {
            epoch_start_offset,
            high_watermark: None,
            end_offsets: BTreeMap::new(),
            fetched: BTreeSet::new(),
        };
        self.set_state(State::Leader(leader), out);
        for to in self.other_voters() {
            self.send_begin_quorum_epoch(to, out);
        }
        // A single voter is its own majority.
        self.maybe_advance_high_watermark(out);
    }
    // ANCHOR_END: become_leader

    fn send_begin_quorum_epoch(&self, to: NodeId, out: &mut Vec<Action>) {
        out.push(Action::Send {
            to,
            msg: Message::BeginQuorumEpoch(BeginQuorumEpoch {
                epoch: self.hard.term,
            }),
        });
    }

    /// Kafka's beginQuorumEpochTimer: the leader resends BeginQuorumEpoch to
    /// the voters that have not fetched in its epoch yet; once every voter
    /// has, the timer is left off.
    pub(super) fn handle_begin_epoch_timeout(&mut self, out: &mut Vec<Action>) {
        let State::Leader(l) = &self.state else {
            return;
        };
        let waiting: Vec<NodeId> = self
            .other_voters()
            .into_iter()
            .filter(|v| !l.end_offsets.contains_key(v))
            .collect();
        if waiting.is_empty() {
            return;
        }
        for to in waiting {
            self.send_begin_quorum_epoch(to, out);
        }
        self.set_timer(Timer::Heartbeat, out);
    }

    /// BeginQuorumEpoch: the sender leads `m.epoch`; a node in an older
    /// epoch, or in this one without a leader, follows it (even when its
    /// own configuration, behind the leader's, does not have the sender as
    /// a voter yet).
    pub(super) fn handle_begin_quorum_epoch(
        &mut self,
        from: NodeId,
        m: BeginQuorumEpoch,
        out: &mut Vec<Action>,
    ) {
        self.maybe_transition(Some(from), m.epoch, out);
    }

    /// EndQuorumEpoch: the sender resigns `m.epoch` (it may be a leader
    /// that its own change removed). Its follower campaigns at once when it
    /// is a voter and the one voter of the first rank of preferred
    /// successors (or when none is named). Kafka shortens the other
    /// followers' fetch timeouts by position; timeouts have no length here,
    /// so they keep theirs.
    ///
    /// Voters tied in the first rank all keep their election timers
    /// instead: nothing but an id could pick one of them (Kafka's list puts
    /// the lower id first), and the protocol must not depend on the names
    /// of the servers (see [`EndQuorumEpoch`]). Sending all of them at once
    /// would split the next epoch's vote whenever the sender does not vote
    /// (a leader its own change removed, whose voters are usually all
    /// caught up); randomized timers let one go first, as in any Raft
    /// election. A timeless model loses nothing by it: a timer may fire
    /// right after the message, which is Kafka's first successor
    /// campaigning at once.
    pub(super) fn handle_end_quorum_epoch(
        &mut self,
        from: NodeId,
        m: EndQuorumEpoch,
        out: &mut Vec<Action>,
    ) {
        self.maybe_transition(Some(from), m.epoch, out);
        let follows_sender = self.state == State::Follower { leader: from };
        let first = match m.preferred_successors.first() {
            None => true,
            Some(rank) => rank.len() == 1 && rank.contains(&self.id),
        };
        if follows_sender && m.epoch == self.hard.term && first && self.is_voter() {
            self.start_election(out);
        }
    }

    /// Check-quorum: the timer is re-armed each time a majority has fetched
    /// (see `handle_fetch`), so its firing means a majority has not within
    /// the interval. The leader resigns.
    pub(super) fn handle_check_quorum_timeout(&mut self, out: &mut Vec<Action>) {
        if self.cfg.check_quorum && self.is_leader() {
            self.resign(out);
        }
    }

    /// Gives up the epoch: Resigned (nothing durable changes: the epoch's
    /// leader is still this node, which keeps it from voting in the epoch),
    /// then EndQuorumEpoch with the other voters ranked by the end offset
    /// they last fetched at, best first (one that never fetched in the
    /// epoch last); voters at the same end offset share a rank, so that
    /// ids never order them (see [`EndQuorumEpoch`]).
    pub(super) fn resign(&mut self, out: &mut Vec<Action>) {
        let State::Leader(l) = &self.state else {
            return;
        };
        let mut ranks: BTreeMap<Reverse<Option<LogIndex>>, BTreeSet<NodeId>> = BTreeMap::new();
        for v in self.other_voters() {
            let end = l.end_offsets.get(&v).copied();
            ranks.entry(Reverse(end)).or_default().insert(v);
        }
        self.set_state(State::Resigned, out);
        self.send_end_quorum_epoch(ranks.into_values().collect(), out);
    }

    /// Sends EndQuorumEpoch for the current epoch to the other voters.
    pub(super) fn send_end_quorum_epoch(
        &self,
        successors: Vec<BTreeSet<NodeId>>,
        out: &mut Vec<Action>,
    ) {
        let m = EndQuorumEpoch {
            epoch: self.hard.term,
            preferred_successors: successors,
        };
        for to in self.other_voters() {
            out.push(Action::Send {
                to,
                msg: Message::EndQuorumEpoch(m.clone()),
            });
        }
    }
}
