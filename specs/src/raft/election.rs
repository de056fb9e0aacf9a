//! Leader election (Raft §5.2, §5.4.1): election timeout, RequestVote and
//! its response, becoming leader. Votes are asked of, and counted in, the
//! configuration at the end of the candidate's log; any server answers.

use super::{Action, HardState, Node, Progress, Role, Timer};
use crate::bugs::Bug;
use crate::message::{AppendEntries, Message, RequestVote, VoteResponse};
use crate::replica::ReplicaOwner;
use crate::types::NodeId;
use std::collections::{BTreeMap, BTreeSet};

impl Node {
    /// A follower or candidate that heard from no leader starts an election:
    /// new term, vote for itself (durably), ask every other voter.
    pub(super) fn handle_election_timeout(&mut self, out: &mut Vec<Action>) {
        if self.is_leader() || !self.conf.quorum.contains(self.id) {
            return;
        }
        self.hard = HardState {
            term: self.hard.term.next(),
            voted_for: Some(self.id),
            leader: None,
        };
        self.role = Role::Candidate {
            votes: BTreeSet::from([self.id]),
        };
        out.push(Action::PersistHardState(self.hard));
        let request = RequestVote {
            term: self.hard.term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for to in self.voter_peers() {
            out.push(Action::Send {
                to,
                msg: Message::RequestVote(request.clone()),
            });
        }
        out.push(Action::SetTimer(Timer::Election));
        self.maybe_become_leader(out);
    }

    // ANCHOR: request_vote
    /// Grants the vote when the request is of the current term, the node has
    /// not voted for someone else in it, and the candidate's log is at least
    /// as up to date as its own (§5.4.1). The vote is persisted before the
    /// reply (Figure 2).
    pub(super) fn handle_request_vote(
        &mut self,
        from: NodeId,
        m: RequestVote,
        out: &mut Vec<Action>,
    ) {
        let log_ok = self.cfg.has(Bug::VoteWithoutLogCheck)
            || self.log.is_up_to_date(m.last_log_term, m.last_log_index);
        let granted =
            m.term == self.hard.term && self.hard.voted_for.is_none_or(|v| v == from) && log_ok;
        if granted && self.hard.voted_for.is_none() {
            self.hard.voted_for = Some(from);
            if !self.cfg.has(Bug::UnpersistedVote) {
                out.push(Action::PersistHardState(self.hard));
            }
        }
        if granted {
            out.push(Action::SetTimer(Timer::Election));
        }
        out.push(Action::Send {
            to: from,
            msg: Message::VoteResponse(VoteResponse {
                term: self.hard.term,
                granted,
            }),
        });
    }
    // ANCHOR_END: request_vote

    /// Counts a granted vote of the current term; a majority makes a leader.
    pub(super) fn handle_vote_response(
        &mut self,
        from: NodeId,
        m: VoteResponse,
        out: &mut Vec<Action>,
    ) {
        if m.term != self.hard.term || !m.granted || !self.conf.quorum.contains(from) {
            return;
        }
        if let Role::Candidate { votes } = &mut self.role {
            if votes.insert(from) {
                self.maybe_become_leader(out);
            }
        }
    }

    /// A candidate holding a majority of votes becomes leader: it initialises
    /// every follower's progress (§5.3) and asserts itself with an immediate
    /// round of empty AppendEntries.
    fn maybe_become_leader(&mut self, out: &mut Vec<Action>) {
        let Role::Candidate { votes } = &self.role else {
            return;
        };
        if !self.deciding_quorum().agrees(|id| votes.contains(&id)) {
            return;
        }
        let next = self.log.last_index().next();
        let progress: BTreeMap<NodeId, Progress> = self
            .replication_peers()
            .into_iter()
            .map(|p| {
                (
                    p,
                    Progress {
                        next,
                        matched: crate::types::LogIndex(0),
                    },
                )
            })
            .collect();
        self.role = Role::Leader { progress };
        out.push(Action::CancelTimer(Timer::Election));
        if self.cfg.leader_noop {
            let noop = crate::types::Entry {
                term: self.hard.term,
                payload: crate::types::Payload::Noop,
            };
            self.append(vec![noop], out);
        }
        // An inherited C_old,new that is known committed is finished now.
        self.maybe_leave_joint(out);
        self.broadcast_append(out);
        out.push(Action::SetTimer(Timer::Heartbeat));
        // A single-voter cluster commits on its own.
        self.maybe_advance_commit(out);
    }

    /// The AppendEntries a leader sends to `peer` now.
    pub(super) fn append_for(&self, peer: NodeId) -> Option<AppendEntries> {
        let Role::Leader { progress } = &self.role else {
            return None;
        };
        let p = progress.get(&peer)?;
        let prev = p.next.prev();
        Some(AppendEntries {
            term: self.hard.term,
            prev_log_index: prev,
            prev_log_term: self.log.term_at(prev).expect("next <= last + 1"),
            entries: self.log.slice_from(p.next, self.cfg.max_entries_per_append),
            leader_commit: self.commit,
        })
    }

    /// Sends every follower what it is missing (or a heartbeat).
    pub(super) fn broadcast_append(&self, out: &mut Vec<Action>) {
        for peer in self.replication_peers() {
            if let Some(m) = self.append_for(peer) {
                out.push(Action::Send {
                    to: peer,
                    msg: Message::AppendEntries(m),
                });
            }
        }
    }
}
