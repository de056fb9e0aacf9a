//! Log replication (Raft §5.3, §5.4.2): AppendEntries and its response,
//! heartbeats, the commit rule, and what Raft gives the shared request
//! handling of [`crate::replica::ReplicaOwner`] (a leader's append sends
//! the entry at once).

use super::{Action, Node, Progress, Role, Timer};
use crate::bugs::Bug;
use crate::membership::ConfigHistory;
use crate::message::{AppendEntries, AppendResponse, Message};
use crate::replica::{ChangeRules, Replica, ReplicaOwner};
use crate::types::{Entry, LogIndex, NodeId, Payload, Term};

impl Node {
    /// A leader's heartbeat: every follower gets what it is missing.
    pub(super) fn handle_heartbeat_timeout(&mut self, out: &mut Vec<Action>) {
        if !self.is_leader() {
            return;
        }
        self.broadcast_append(out);
        out.push(Action::SetTimer(Timer::Heartbeat));
    }

    /// Figure 2, AppendEntries receiver: reject a stale term or a log that
    /// does not contain `prev`; otherwise delete a conflicting suffix, append
    /// what is new and advance the commit index.
    pub(super) fn handle_append_entries(
        &mut self,
        from: NodeId,
        m: AppendEntries,
        out: &mut Vec<Action>,
    ) {
        if m.term < self.hard.term {
            out.push(Action::Send {
                to: from,
                msg: Message::AppendResponse(AppendResponse {
                    term: self.hard.term,
                    success: false,
                    match_index: self.log.last_index(),
                }),
            });
            return;
        }
        // Same term: `from` is this term's leader (§5.2: a candidate that
        // hears from it steps down).
        if self.known_leader() != Some(from) {
            self.become_follower(m.term, Some(from), out);
        }
        out.push(Action::SetTimer(Timer::Election));
        if self.log.term_at(m.prev_log_index) != Some(m.prev_log_term) {
            out.push(Action::Send {
                to: from,
                msg: Message::AppendResponse(AppendResponse {
                    term: self.hard.term,
                    success: false,
                    match_index: self.log.last_index(),
                }),
            });
            return;
        }
        let mut new_entries = Vec::new();
        for (i, entry) in m.entries.iter().enumerate() {
            let index = m.prev_log_index.plus(i + 1);
            match self.log.term_at(index) {
                Some(t) if t == entry.term => continue,
                Some(_) if self.cfg.has(Bug::NoTruncateOnConflict) => {
                    // The bug: overwrite in place, keep whatever follows.
                    let mut entries = self.log.entries().to_vec();
                    entries[index.0 as usize - 1] = entry.clone();
                    self.log = crate::log::Log::from_entries(entries);
                    self.conf = ConfigHistory::of_log(&self.log, &self.cfg.voters);
                    out.push(Action::TruncateLog { last: index.prev() });
                    out.push(Action::AppendLog(self.log.slice_from(index, usize::MAX)));
                }
                Some(_) => {
                    self.truncate(index.prev(), out);
                    new_entries.extend(m.entries[i..].iter().cloned());
                    break;
                }
                None => {
                    new_entries.extend(m.entries[i..].iter().cloned());
                    break;
                }
            }
        }
        if !new_entries.is_empty() {
            self.append(new_entries, out);
        }
        let last_new = m.prev_log_index.plus(m.entries.len());
        let commit = m.leader_commit.min(last_new);
        self.advance_commit_to(commit, out);
        out.push(Action::Send {
            to: from,
            msg: Message::AppendResponse(AppendResponse {
                term: self.hard.term,
                success: true,
                match_index: last_new,
            }),
        });
    }

    /// A leader records a follower's progress: on success it may commit; on
    /// rejection it backs `nextIndex` off (at most to the follower's hint)
    /// and retries at once.
    pub(super) fn handle_append_response(
        &mut self,
        from: NodeId,
        m: AppendResponse,
        out: &mut Vec<Action>,
    ) {
        if m.term != self.hard.term {
            return;
        }
        let last = self.log.last_index();
        let Role::Leader { progress } = &mut self.role else {
            return;
        };
        let Some(p) = progress.get_mut(&from) else {
            return;
        };
        let updated = if m.success {
            let matched = p.matched.max(m.match_index.min(last));
            Progress {
                next: p.next.max(matched.next()),
                matched,
            }
        } else {
            let next = p
                .next
                .prev()
                .min(m.match_index.next())
                .max(p.matched.next());
            Progress {
                next: next.max(LogIndex(1)),
                matched: p.matched,
            }
        };
        if updated == *p {
            return;
        }
        *p = updated;
        if m.success {
            self.maybe_advance_commit(out);
        } else if let Some(retry) = self.append_for(from) {
            out.push(Action::Send {
                to: from,
                msg: Message::AppendEntries(retry),
            });
        }
    }

    // ANCHOR: maybe_advance_commit
    /// §5.4.2: the leader commits the largest index held by a majority, but
    /// only if that entry is of its own term.
    pub(super) fn maybe_advance_commit(&mut self, out: &mut Vec<Action>) {
        let Role::Leader { progress } = &self.role else {
            return;
        };
        let me = self.id;
        let last = self.log.last_index();
        let n = self.deciding_quorum().committed_index(|id| {
            if id == me {
                last
            } else {
                progress.get(&id).map_or(LogIndex(0), |p| p.matched)
            }
        });
        if n <= self.commit {
            return;
        }
        let own_term = self.log.term_at(n) == Some(self.hard.term);
        if own_term || self.cfg.has(Bug::CommitPreviousTerm) {
            self.advance_commit_to(n, out);
        }
    }
    // ANCHOR_END: maybe_advance_commit

    /// Raises the commit index to `index` (never lowers it) and applies what
    /// became committed; a leader also answers the clients.
    fn advance_commit_to(&mut self, index: LogIndex, out: &mut Vec<Action>) {
        let leader_term = self.is_leader().then_some(self.hard.term);
        if self.replica().commit_to(index, leader_term, out) {
            self.maybe_leave_joint(out);
            self.maybe_step_down_removed(out);
        }
    }

    /// A leader that is not a voter of its committed configuration steps
    /// down (dissertation §4.2.2): it has replicated the change that
    /// removed it and stops sending heartbeats.
    fn maybe_step_down_removed(&mut self, out: &mut Vec<Action>) {
        if self.is_leader()
            && self.conf.is_committed(self.commit)
            && !self.conf.quorum.contains(self.id)
        {
            // Followers learn the commit of the configuration from one
            // last round of AppendEntries before the leader goes quiet.
            self.broadcast_append(out);
            self.become_follower(self.hard.term, None, out);
        }
    }
}

impl ReplicaOwner for Node {
    fn replica(&mut self) -> Replica<'_> {
        Replica {
            log: &mut self.log,
            conf: &mut self.conf,
            committed: &mut self.commit,
        }
    }

    fn leading(&self) -> Option<Term> {
        self.is_leader().then_some(self.hard.term)
    }

    fn client_hint(&self) -> Option<NodeId> {
        self.known_leader()
    }

    /// One server at a time waits for an entry of the leader's term to
    /// commit (the raft-dev 2015 fix).
    fn change_rules(&self) -> ChangeRules {
        ChangeRules {
            mode: self.cfg.reconfig,
            committed_in_term: self.log.term_at(self.commit) == Some(self.hard.term),
            skip_term_commit: self.cfg.has(Bug::SingleChangeWithoutTermCommit),
        }
    }

    /// A leader appends an entry of its term, durably, sends it to every
    /// follower and commits it at once if it alone is a quorum.
    fn leader_append(&mut self, payload: Payload, out: &mut Vec<Action>) {
        let entry = Entry {
            term: self.hard.term,
            payload,
        };
        self.append(vec![entry], out);
        self.broadcast_append(out);
        self.maybe_advance_commit(out);
    }
}
