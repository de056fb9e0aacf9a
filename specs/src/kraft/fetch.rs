//! Replication by pull (KIP-595): Fetch and its answer on both sides, the
//! high watermark, and what KRaft gives the shared request handling of
//! [`crate::replica::ReplicaOwner`] (a leader's append waits to be
//! fetched).

use super::{Action, Node, State, Timer};
use crate::bugs::Bug;
use crate::message::{DivergingEpoch, Fetch, FetchError, FetchResponse, Message};
use crate::replica::{ChangeRules, Replica, ReplicaOwner};
use crate::types::{Entry, LogIndex, NodeId, Payload, Term};

impl Node {
    /// A follower fetches from its leader; an observer that knows no leader
    /// asks every voter (Kafka: its bootstrap servers), whose answers name
    /// the leader.
    pub(super) fn handle_fetch_timeout(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Follower { .. } => self.send_fetch(out),
            // An observer that knows no leader, or a leader removed by its
            // own change once resigned.
            State::Unattached | State::Resigned if !self.is_voter() => {
                for to in self.other_voters() {
                    out.push(Action::Send {
                        to,
                        msg: Message::Fetch(self.fetch_request()),
                    });
                }
            }
            _ => return,
        }
        self.set_timer(Timer::Fetch, out);
    }

    /// A follower sends its current position to its leader.
    pub(super) fn send_fetch(&self, out: &mut Vec<Action>) {
        if let State::Follower { leader } = self.state {
            out.push(Action::Send {
                to: leader,
                msg: Message::Fetch(self.fetch_request()),
            });
        }
    }

    /// Fetch, on the receiving side (REFERENCE item 7). A fetch of a higher
    /// epoch gets no answer (Kafka's UNKNOWN_LEADER_EPOCH, which the fetcher
    /// would drop as older than its own epoch).
    pub(super) fn handle_fetch(&mut self, from: NodeId, m: Fetch, out: &mut Vec<Action>) {
        if m.current_leader_epoch > self.hard.term {
            return;
        }
        let mut answer = FetchResponse {
            epoch: self.hard.term,
            leader: self.hard.leader,
            error: None,
            fetch_offset: m.fetch_offset,
            last_fetched_epoch: m.last_fetched_epoch,
            records: Vec::new(),
            high_watermark: None,
            diverging: None,
        };
        if m.current_leader_epoch < self.hard.term {
            answer.error = Some(FetchError::Fenced);
        } else if !self.is_leader() {
            answer.error = Some(FetchError::NotLeader);
        } else if let Some(d) = self.divergence(&m) {
            answer.diverging = Some(d);
        } else {
            self.record_fetch(from, m.fetch_offset, out);
            answer.high_watermark = match &self.state {
                State::Leader(l) => l.high_watermark,
                // This fetch committed the configuration that removed the
                // leader, which resigned: it still answers as the epoch's
                // leader, so that the fetcher learns the commit.
                _ => Some(self.high_watermark),
            };
            answer.records = self
                .log
                .slice_from(m.fetch_offset.next(), self.cfg.max_records_per_fetch);
        }
        out.push(Action::Send {
            to: from,
            msg: Message::FetchResponse(answer),
        });
    }

    // ANCHOR: divergence
    /// Kafka's `validateOffsetAndEpoch`: `None` when the leader's log holds
    /// the fetcher's last fetched epoch up to its fetch offset; otherwise
    /// where the logs part.
    fn divergence(&self, m: &Fetch) -> Option<DivergingEpoch> {
        if self.cfg.has(Bug::KraftIgnoreDivergingEpoch) {
            return None;
        }
        let (epoch, end_offset) = self.log.end_offset_for_epoch(m.last_fetched_epoch);
        (epoch != m.last_fetched_epoch || end_offset < m.fetch_offset)
            .then_some(DivergingEpoch { epoch, end_offset })
    }
    // ANCHOR_END: divergence

    /// A valid fetch from a voter acknowledges its fetch offset; the high
    /// watermark may advance. With check-quorum, once a majority (the leader
    /// included) has fetched, the check interval starts over.
    fn record_fetch(&mut self, from: NodeId, fetch_offset: LogIndex, out: &mut Vec<Action>) {
        if from == self.id || !self.conf.quorum.contains(from) {
            return; // an observer (of the leader's configuration) never counts
        }
        let deciding = self.deciding_quorum();
        let me = self.id;
        // Only a buggy leader can be fetched past its own end.
        let offset = fetch_offset.min(self.log.last_index());
        let State::Leader(l) = &mut self.state else {
            return;
        };
        // A lower offset from a voter in this epoch is a duplicate of an
        // older fetch: what the voter acknowledged in the epoch stays.
        let acked = l.end_offsets.entry(from).or_default();
        *acked = (*acked).max(offset);
        if self.cfg.check_quorum {
            l.fetched.insert(from);
            if deciding.agrees(|v| v == me || l.fetched.contains(&v)) {
                l.fetched.clear();
                self.set_timer(Timer::CheckQuorum, out);
            }
        }
        self.maybe_advance_high_watermark(out);
    }

    /// REFERENCE item 8: the offset held by a majority of voters (the
    /// leader's log end offset included when it is a voter) becomes the
    /// high watermark only if it is past the epoch start offset and past
    /// the current one. The voters are those of the configuration at the
    /// end of the leader's log (a majority of each half of a joint one).
    /// A new high watermark may finish a change: C_old,new committed is
    /// followed by C_new, and a leader that the committed configuration
    /// leaves out resigns.
    pub(super) fn maybe_advance_high_watermark(&mut self, out: &mut Vec<Action>) {
        let me = self.id;
        let end = self.log.last_index();
        let deciding = self.deciding_quorum();
        let State::Leader(l) = &mut self.state else {
            return;
        };
        // `committed_index` asks only for the voters of `deciding`: the
        // leader's own end counts only when it is one of them.
        let majority = deciding.committed_index(|v| {
            if v == me {
                end
            } else {
                l.end_offsets.get(&v).copied().unwrap_or_default()
            }
        });
        let past_start =
            majority > l.epoch_start_offset || self.cfg.has(Bug::KraftHwmBeforeEpochStart);
        if !past_start || majority <= l.high_watermark.unwrap_or_default() {
            return;
        }
        l.high_watermark = Some(majority);
        self.advance_high_watermark_to(majority, out);
        self.maybe_leave_joint(out);
        self.maybe_resign_removed(out);
    }

    /// Raises the local high watermark to `hwm` (never lowers it, never past
    /// the log end), applies the records it covers and, on a leader, answers
    /// their clients.
    fn advance_high_watermark_to(&mut self, hwm: LogIndex, out: &mut Vec<Action>) {
        let leader_term = self.is_leader().then_some(self.hard.term);
        self.replica().commit_to(hwm, leader_term, out);
    }

    /// FetchResponse, on the fetching side. A newer epoch, FENCED or
    /// NOT_LEADER sends it to that epoch and leader (Kafka's
    /// `maybeHandleCommonResponse`); an answer that names the leader it did
    /// not know makes it a follower, which fetches afresh. Otherwise the
    /// answer counts only if it comes from its leader and is about its
    /// current position: it truncates on DivergingEpoch, or appends the
    /// records and takes the high watermark. Either way the fetch timeout
    /// starts over, and a changed log is fetched past (and so acknowledged)
    /// at once.
    pub(super) fn handle_fetch_response(
        &mut self,
        from: NodeId,
        m: FetchResponse,
        out: &mut Vec<Action>,
    ) {
        if m.epoch < self.hard.term {
            return;
        }
        if m.error.is_some() || m.epoch > self.hard.term {
            self.maybe_transition(m.leader, m.epoch, out);
            return;
        }
        if self.maybe_transition(m.leader, m.epoch, out) {
            return;
        }
        if self.state != (State::Follower { leader: from }) {
            return;
        }
        let position = (self.log.last_index(), self.log.last_term());
        if (m.fetch_offset, m.last_fetched_epoch) != position {
            return; // an answer to an older position
        }
        let changed = match m.diverging {
            Some(d) => self.truncate_to(d, out),
            None => self.append_as_follower(m.records, m.high_watermark, out),
        };
        if self.is_voter() {
            self.set_timer(Timer::Election, out);
        }
        if changed {
            self.send_fetch(out);
        }
    }

    // ANCHOR: truncate_to
    /// Kafka's `truncateToEndOffset`: to the end of the diverging epoch in
    /// this log, or to the leader's end of it if shorter — but never below
    /// the high watermark (Kafka raises an error there; it cannot happen
    /// unless committed records differ, which the properties catch).
    /// Returns true when the log changed.
    fn truncate_to(&mut self, d: DivergingEpoch, out: &mut Vec<Action>) -> bool {
        let (epoch, end) = self.log.end_offset_for_epoch(d.epoch);
        let target = if epoch == d.epoch {
            end.min(d.end_offset)
        } else {
            end
        };
        let target = target.max(self.high_watermark);
        if target >= self.log.last_index() {
            return false;
        }
        self.truncate_log(target, out);
        true
    }
    // ANCHOR_END: truncate_to

    /// Appends the leader's records after the log end and sets the high
    /// watermark to min(leader's, log end offset). Returns true when
    /// records were appended.
    fn append_as_follower(
        &mut self,
        records: Vec<Entry>,
        leader_hwm: Option<LogIndex>,
        out: &mut Vec<Action>,
    ) -> bool {
        // A log's epochs never decrease (Kafka's log refuses such a batch);
        // only a leader that skipped the divergence check sends this.
        if records
            .first()
            .is_some_and(|e| e.term < self.log.last_term())
        {
            return false;
        }
        let appended = !records.is_empty();
        if appended {
            self.append_records(records, out);
        }
        if let Some(hwm) = leader_hwm {
            self.advance_high_watermark_to(hwm, out);
        }
        appended
    }
}

impl ReplicaOwner for Node {
    fn replica(&mut self) -> Replica<'_> {
        Replica {
            log: &mut self.log,
            conf: &mut self.conf,
            committed: &mut self.high_watermark,
        }
    }

    fn leading(&self) -> Option<Term> {
        self.is_leader().then_some(self.hard.term)
    }

    fn client_hint(&self) -> Option<NodeId> {
        self.leader_hint()
    }

    /// One voter at a time waits until the leader knows a high watermark
    /// in its epoch (its leader-change record is committed: KIP-853's form
    /// of "commit an entry of your term first").
    fn change_rules(&self) -> ChangeRules {
        ChangeRules {
            mode: self.cfg.reconfig,
            committed_in_term: matches!(&self.state, State::Leader(l) if l.high_watermark.is_some()),
            skip_term_commit: self.cfg.has(Bug::SingleChangeWithoutTermCommit),
        }
    }

    /// A leader appends a record of its epoch, durably (followers pull it);
    /// a leader that is its only voter commits it at once.
    fn leader_append(&mut self, payload: Payload, out: &mut Vec<Action>) {
        let entry = Entry {
            term: self.hard.term,
            payload,
        };
        self.append_records(vec![entry], out);
        self.maybe_advance_high_watermark(out);
    }
}
