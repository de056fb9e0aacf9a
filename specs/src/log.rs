//! The replicated log as both protocols see it: a sequence of [`Entry`]s,
//! 1-indexed, shared copy-on-write so that cloning a node (which the model
//! checker does for every state) does not copy its log.
//!
//! A log has a *start*: the index of the last entry compacted away (into a
//! snapshot) and its term, `(0, 0)` for a log that holds everything. The
//! entries it holds are `start + 1 ..= last_index()`. Nothing compacts yet
//! (snapshots come with issue #17): every log in this workspace starts at
//! 0, and the properties' [`crate::invariants::NodeView`] reads
//! [`Log::entries`] as the log from index 1.

use crate::types::{Entry, LogIndex, NodeId, RenameNodes, RequestId, Term};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An append-only (except for truncation of a conflicting suffix) log.
///
/// Invariant: entry terms never decrease along the log, and none is below
/// the start term.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Log {
    /// The entries after the start, index `start + 1` first.
    entries: Arc<Vec<Entry>>,
    /// The index of the last entry compacted away (0: none).
    start: LogIndex,
    /// The term of the entry at `start` (0 when `start` is 0).
    start_term: Term,
}

impl Log {
    /// A log holding `entries` from index 1.
    pub fn from_entries(entries: Vec<Entry>) -> Log {
        Log {
            entries: Arc::new(entries),
            ..Log::default()
        }
    }

    /// The entries it holds, index `start() + 1` first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The index of the last entry compacted away (0 when none is).
    pub fn start(&self) -> LogIndex {
        self.start
    }

    /// The position of `index` in `entries`, if it is held.
    fn position(&self, index: LogIndex) -> Option<usize> {
        (index > self.start)
            .then(|| (index.0 - self.start.0 - 1) as usize)
            .filter(|&p| p < self.entries.len())
    }

    /// The index of the last entry (the start when it holds none).
    pub fn last_index(&self) -> LogIndex {
        self.start.plus(self.entries.len())
    }

    /// The term of the last entry (the start term when it holds none).
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.start_term, |e| e.term)
    }

    /// The entry at `index`, if held.
    pub fn get(&self, index: LogIndex) -> Option<&Entry> {
        self.entries.get(self.position(index)?)
    }

    /// The term at `index`: the start term at the start (`Term(0)` for
    /// index 0 of a log that starts at 0), `None` before the start or past
    /// the end.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == self.start {
            Some(self.start_term)
        } else {
            self.get(index).map(|e| e.term)
        }
    }

    /// Entries from `from` (inclusive) to the end, at most `max` of them
    /// (from the first held one when `from` is at or before the start).
    pub fn slice_from(&self, from: LogIndex, max: usize) -> Vec<Entry> {
        let skip = from.0.saturating_sub(self.start.0 + 1) as usize;
        self.entries.iter().skip(skip).take(max).cloned().collect()
    }

    /// Appends one entry at the end.
    pub fn push(&mut self, entry: Entry) {
        Arc::make_mut(&mut self.entries).push(entry);
    }

    /// Keeps entries up to `last` and removes the rest (never below the
    /// start: compacted entries are committed, and committed entries are
    /// never truncated).
    pub fn truncate(&mut self, last: LogIndex) {
        let keep = last.0.saturating_sub(self.start.0) as usize;
        if keep < self.entries.len() {
            Arc::make_mut(&mut self.entries).truncate(keep);
        }
    }

    /// Discards the entries up to `upto` (which must be held), as a
    /// snapshot that covers them would: the start moves to `upto`.
    pub fn compact(&mut self, upto: LogIndex) {
        let Some(p) = self.position(upto) else {
            return;
        };
        self.start_term = self.entries[p].term;
        self.start = upto;
        Arc::make_mut(&mut self.entries).drain(..=p);
    }

    /// Where the command of `request` sits, if the log holds it (a leader
    /// appends each request id once: retries are de-duplicated).
    pub fn index_of_request(&self, request: RequestId) -> Option<LogIndex> {
        self.entries
            .iter()
            .position(|e| e.request() == Some(request))
            .map(|pos| self.start.plus(pos + 1))
    }

    /// The index of the last entry whose term is at most `term` (the start
    /// if none is held).
    pub fn last_index_of_term_at_most(&self, term: Term) -> LogIndex {
        self.start
            .plus(self.entries.iter().take_while(|e| e.term <= term).count())
    }

    /// KRaft's `endOffsetForEpoch`: the largest epoch at most `epoch` among
    /// the log's records, and its end offset (how many records have an
    /// epoch up to it); `(Term(0), LogIndex(0))` when there is none.
    pub fn end_offset_for_epoch(&self, epoch: Term) -> (Term, LogIndex) {
        let end = self.last_index_of_term_at_most(epoch);
        (self.term_at(end).expect("start <= end <= last index"), end)
    }

    /// True when the (`last_term`, `last_index`) of another log is at least as
    /// up to date as ours: Raft §5.4.1, compared term first.
    pub fn is_up_to_date(&self, last_term: Term, last_index: LogIndex) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}

impl RenameNodes for Log {
    /// Only configuration entries hold node ids; a log without one whose
    /// ids change is shared, not copied (the model renames every state).
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        let changes = self.entries.iter().any(|e| {
            e.config()
                .is_some_and(|q| q.voters().iter().any(|&id| f(id) != id))
        });
        if changes {
            Log {
                entries: Arc::new(self.entries.iter().map(|e| e.rename_nodes(f)).collect()),
                ..self.clone()
            }
        } else {
            self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Payload;

    fn log_of(terms: &[u64]) -> Log {
        Log::from_entries(
            terms
                .iter()
                .map(|&t| Entry {
                    term: Term(t),
                    payload: Payload::Noop,
                })
                .collect(),
        )
    }

    #[test]
    fn a_compacted_log_keeps_its_indexes_and_the_start_term() {
        let mut log = log_of(&[1, 1, 2, 3]);
        log.compact(LogIndex(2));
        assert_eq!(log.start(), LogIndex(2));
        assert_eq!(log.entries().len(), 2);
        assert_eq!(log.last_index(), LogIndex(4));
        assert_eq!(log.term_at(LogIndex(2)), Some(Term(1)));
        assert_eq!(log.term_at(LogIndex(1)), None, "compacted away");
        assert_eq!(log.get(LogIndex(3)).map(|e| e.term), Some(Term(2)));
        assert_eq!(log.slice_from(LogIndex(1), 9).len(), 2);
        assert_eq!(log.slice_from(LogIndex(4), 9).len(), 1);
        assert_eq!(log.end_offset_for_epoch(Term(1)), (Term(1), LogIndex(2)));
        assert_eq!(log.end_offset_for_epoch(Term(2)), (Term(2), LogIndex(3)));
        log.truncate(LogIndex(3));
        assert_eq!(log.last_index(), LogIndex(3));
        log.truncate(LogIndex(0));
        assert_eq!(log.last_index(), LogIndex(2), "never below the start");
        assert_eq!(log.last_term(), Term(1));
    }

    #[test]
    fn an_uncompacted_log_is_indexed_from_one() {
        let log = log_of(&[1, 2]);
        assert_eq!(log.term_at(LogIndex(0)), Some(Term(0)));
        assert_eq!(log.term_at(LogIndex(2)), Some(Term(2)));
        assert_eq!(log.term_at(LogIndex(3)), None);
        assert_eq!(log.get(LogIndex(0)), None);
        assert_eq!(log.last_index_of_term_at_most(Term(1)), LogIndex(1));
    }
}
