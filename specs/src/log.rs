//! The replicated log as both protocols see it: a sequence of [`Entry`]s,
//! 1-indexed, shared copy-on-write so that cloning a node (which the model
//! checker does for every state) does not copy its log.

use crate::types::{Entry, LogIndex, NodeId, RenameNodes, RequestId, Term};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An append-only (except for truncation of a conflicting suffix) log.
///
/// Invariant: entry terms never decrease along the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Log(Arc<Vec<Entry>>);

impl Log {
    /// A log holding `entries`.
    pub fn from_entries(entries: Vec<Entry>) -> Log {
        Log(Arc::new(entries))
    }

    /// All entries, index 1 first.
    pub fn entries(&self) -> &[Entry] {
        &self.0
    }

    /// The index of the last entry (0 when empty).
    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.0.len() as u64)
    }

    /// The term of the last entry (0 when empty).
    pub fn last_term(&self) -> Term {
        self.0.last().map_or(Term(0), |e| e.term)
    }

    /// The entry at `index`, if present.
    pub fn get(&self, index: LogIndex) -> Option<&Entry> {
        if index.0 == 0 {
            return None;
        }
        self.0.get(index.0 as usize - 1)
    }

    /// The term at `index`: `Some(Term(0))` for index 0, `None` past the end.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index.0 == 0 {
            Some(Term(0))
        } else {
            self.get(index).map(|e| e.term)
        }
    }

    /// Entries from `from` (inclusive) to the end, at most `max` of them.
    pub fn slice_from(&self, from: LogIndex, max: usize) -> Vec<Entry> {
        let start = (from.0.max(1) - 1) as usize;
        self.0.iter().skip(start).take(max).cloned().collect()
    }

    /// Appends one entry at the end.
    pub fn push(&mut self, entry: Entry) {
        Arc::make_mut(&mut self.0).push(entry);
    }

    /// Keeps entries `1..=last` and removes the rest.
    pub fn truncate(&mut self, last: LogIndex) {
        if (last.0 as usize) < self.0.len() {
            Arc::make_mut(&mut self.0).truncate(last.0 as usize);
        }
    }

    /// Where the command of `request` sits, if the log holds it (a leader
    /// appends each request id once: retries are de-duplicated).
    pub fn index_of_request(&self, request: RequestId) -> Option<LogIndex> {
        self.0
            .iter()
            .position(|e| e.request() == Some(request))
            .map(|pos| LogIndex(pos as u64 + 1))
    }

    /// The index of the last entry whose term is at most `term` (0 if none).
    pub fn last_index_of_term_at_most(&self, term: Term) -> LogIndex {
        LogIndex(self.0.iter().take_while(|e| e.term <= term).count() as u64)
    }

    /// KRaft's `endOffsetForEpoch`: the largest epoch at most `epoch` among
    /// the log's records, and its end offset (how many records have an
    /// epoch up to it); `(Term(0), LogIndex(0))` when there is none.
    pub fn end_offset_for_epoch(&self, epoch: Term) -> (Term, LogIndex) {
        let end = self.last_index_of_term_at_most(epoch);
        (self.term_at(end).expect("end <= last index"), end)
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
        let changes = self.0.iter().any(|e| {
            e.config()
                .is_some_and(|q| q.voters().iter().any(|&id| f(id) != id))
        });
        if changes {
            Log(Arc::new(self.0.iter().map(|e| e.rename_nodes(f)).collect()))
        } else {
            self.clone()
        }
    }
}
