//! Membership change as pure transitions of configurations, a leaf module
//! shared by both protocols (after etcd-io/raft's `confchange/`).
//!
//! # Where configurations live and when they take effect
//!
//! A configuration is a log entry ([`crate::types::Payload::Config`]). **It takes effect
//! as soon as it is in a server's log, committed or not** — the rule of the
//! Raft dissertation (§4.1) and of KIP-853 (the latest VotersRecord, even
//! uncommitted). A server's configuration is therefore a function of its
//! log alone: the last configuration entry, or the bootstrap voters when
//! there is none. Truncating a configuration entry away restores the one
//! before it, with no extra bookkeeping. (The alternative, on commit, needs
//! a separate "applied configuration" that must be kept consistent with
//! truncation and restarts, and etcd-io/raft's TLA+ specification shows
//! the two-leader bug it invites when a server campaigns with committed but
//! unapplied changes; "on append" has no such window.)
//!
//! # The two ways to change
//!
//! - **Joint consensus** (Raft paper §6): from `C_old` the leader appends
//!   `C_old,new`, in which every decision — a vote, a commit, a high
//!   watermark — needs a majority of `C_old` *and* one of `C_new`. Once
//!   `C_old,new` is committed the leader appends `C_new`. Any set of voters
//!   can be added and removed in one change.
//! - **One server at a time** (dissertation §4.1, KIP-853 AddRaftVoter /
//!   RemoveRaftVoter): a change adds or removes exactly one voter, so any
//!   majority of the old set and any majority of the new set overlap and
//!   no joint step is needed. Two rules keep it safe: at most one
//!   uncommitted change, and a leader must first have committed an entry of
//!   its own term (Ongaro's fix, raft-dev 2015: without it two leaders of
//!   different terms can each append a different change and lose a
//!   committed entry; see [`crate::bugs::Bug::SingleChangeWithoutTermCommit`]).
//!
//! In both modes a leader that is not a voter of the final configuration
//! keeps leading until that configuration commits (counting only the
//! others), then steps down. Servers are added as non-voters first: the
//! leader replicates to every server it knows of, voter or not, so a new
//! server has caught up by the time it starts to count.

use crate::log::Log;
use crate::quorum::{Majority, Quorum};
use crate::types::{Entry, LogIndex, NodeId, Payload, RenameNodes, RequestId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a cluster changes its voters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Mode {
    /// Joint consensus: `C_old` → `C_old,new` → `C_new`.
    #[default]
    Joint,
    /// One voter added or removed per change (KIP-853).
    Single,
}

/// One change to the set of voters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VoterChange {
    /// Make a server a voter.
    Add(NodeId),
    /// Stop a server being a voter.
    Remove(NodeId),
}

impl RenameNodes for VoterChange {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        match *self {
            VoterChange::Add(id) => VoterChange::Add(f(id)),
            VoterChange::Remove(id) => VoterChange::Remove(f(id)),
        }
    }
}

impl fmt::Display for VoterChange {
    /// `+n3` or `-n0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VoterChange::Add(id) => write!(f, "+{id}"),
            VoterChange::Remove(id) => write!(f, "-{id}"),
        }
    }
}

/// Why a leader refuses a change request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Refusal {
    /// A configuration entry in the log is not committed yet.
    ChangePending,
    /// One-server mode: the leader has not committed an entry of its term.
    NoCommitInTerm,
    /// The request changes nothing (already applied, or empty).
    NoChange,
    /// One-server mode: the request adds or removes more than one voter.
    NotSingle,
    /// The change would leave no voter.
    NoVoters,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::ChangePending => "a configuration change is still uncommitted",
            Refusal::NoCommitInTerm => "the leader has not committed an entry of its term yet",
            Refusal::NoChange => "the change is already in effect",
            Refusal::NotSingle => "a one-server change adds or removes exactly one voter",
            Refusal::NoVoters => "the change would leave no voter",
        })
    }
}

/// A server's current configuration and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Membership {
    /// The configuration in effect.
    pub quorum: Quorum,
    /// The index of the entry that set it (0: the bootstrap voters).
    pub index: LogIndex,
}

impl Membership {
    /// True when the configuration is joint (a change half done).
    pub fn is_joint(&self) -> bool {
        matches!(self.quorum, Quorum::Joint { .. })
    }

    /// True when the configuration is past its entry: `commit` covers it.
    pub fn is_committed(&self, commit: LogIndex) -> bool {
        self.index <= commit
    }
}

impl RenameNodes for Membership {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        Membership {
            quorum: self.quorum.rename_nodes(f),
            index: self.index,
        }
    }
}

/// Every configuration a log has held, oldest first (Kafka's
/// `VoterSetHistory`): the bootstrap voters at index 0, then one
/// [`Membership`] per configuration entry of the log. Appending or
/// truncating the log updates it without rescanning the log, and it
/// dereferences to the configuration in effect, the last one.
///
/// Shared copy-on-write, like [`Log`]: cloning a node (which the model
/// checker does for every state) does not copy it. It orders by the
/// configuration in effect first, so that it sorts servers (the model's
/// symmetry reduction) as that configuration alone would.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConfigHistory(std::sync::Arc<Vec<Membership>>);

impl ConfigHistory {
    /// The history of `log` over `bootstrap` (one scan, at restart).
    pub fn of_log(log: &Log, bootstrap: &Majority) -> ConfigHistory {
        let mut all = vec![Membership {
            quorum: Quorum::Simple(bootstrap.clone()),
            index: LogIndex(0),
        }];
        for (i, e) in log.entries().iter().enumerate() {
            if let Some(q) = e.config() {
                all.push(Membership {
                    quorum: q.clone(),
                    index: LogIndex(i as u64 + 1),
                });
            }
        }
        ConfigHistory(std::sync::Arc::new(all))
    }

    /// The configuration in effect: the last one.
    pub fn current(&self) -> &Membership {
        self.0
            .last()
            .expect("the bootstrap voters are always there")
    }

    /// The configuration in effect at `index`: the last one set at or
    /// before it.
    pub fn at(&self, index: LogIndex) -> &Membership {
        self.0
            .iter()
            .rev()
            .find(|m| m.index <= index)
            .expect("the bootstrap voters are in effect from index 0")
    }

    /// Records that `entry` was appended at `index`; true when it is a
    /// configuration (which is then in effect).
    pub fn appended(&mut self, index: LogIndex, entry: &Entry) -> bool {
        let Some(quorum) = entry.config() else {
            return false;
        };
        std::sync::Arc::make_mut(&mut self.0).push(Membership {
            quorum: quorum.clone(),
            index,
        });
        true
    }

    /// Records that the log was truncated after `last`; true when a
    /// configuration went with it (the one before it is in effect again).
    pub fn truncated(&mut self, last: LogIndex) -> bool {
        let keep = self.0.iter().take_while(|m| m.index <= last).count();
        if keep == self.0.len() {
            return false;
        }
        std::sync::Arc::make_mut(&mut self.0).truncate(keep.max(1));
        true
    }
}

impl std::ops::Deref for ConfigHistory {
    type Target = Membership;
    fn deref(&self) -> &Membership {
        self.current()
    }
}

impl PartialOrd for ConfigHistory {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ConfigHistory {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.current(), &self.0).cmp(&(other.current(), &other.0))
    }
}

impl RenameNodes for ConfigHistory {
    /// Shared, not copied, when no id in it changes (the model renames
    /// every state it visits).
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        let changes = self
            .0
            .iter()
            .any(|m| m.quorum.voters().iter().any(|&id| f(id) != id));
        if changes {
            ConfigHistory(std::sync::Arc::new((*self.0).rename_nodes(f)))
        } else {
            self.clone()
        }
    }
}

/// The voters that `changes` make of `voters` (applied in order).
pub fn apply(voters: &Majority, changes: &[VoterChange]) -> Majority {
    let mut v: Vec<NodeId> = voters.voters().to_vec();
    for c in changes {
        match *c {
            VoterChange::Add(id) => v.push(id),
            VoterChange::Remove(id) => v.retain(|&x| x != id),
        }
    }
    Majority::new(v)
}

// ANCHOR: propose
/// The configuration entry a leader appends for `changes`, from the
/// committed, non-joint configuration `current`.
///
/// The caller checks the rules that depend on the log (a pending change,
/// a commit in the leader's term); this is the pure part: joint mode
/// enters `C_old,new`, single mode moves straight to the new set and
/// refuses a change of more than one voter.
pub fn propose(current: &Quorum, changes: &[VoterChange], mode: Mode) -> Result<Quorum, Refusal> {
    let Quorum::Simple(old) = current else {
        return Err(Refusal::ChangePending);
    };
    let new = apply(old, changes);
    if new == *old {
        return Err(Refusal::NoChange);
    }
    if new.voters().is_empty() {
        return Err(Refusal::NoVoters);
    }
    match mode {
        Mode::Joint => Ok(Quorum::Joint {
            old: old.clone(),
            new,
        }),
        Mode::Single => {
            let added = new.voters().iter().filter(|&&v| !old.contains(v)).count();
            let removed = old.voters().iter().filter(|&&v| !new.contains(v)).count();
            if added + removed == 1 {
                Ok(Quorum::Simple(new))
            } else {
                Err(Refusal::NotSingle)
            }
        }
    }
}
// ANCHOR_END: propose

/// Joint consensus's second step: the configuration that follows a
/// committed `C_old,new` (`None` for a simple one).
pub fn leave_joint(current: &Quorum) -> Option<Quorum> {
    match current {
        Quorum::Joint { new, .. } => Some(Quorum::Simple(new.clone())),
        Quorum::Simple(_) => None,
    }
}

// ANCHOR: deciding
/// Where a retried change `request` was completed: the index of its last
/// entry when that is a final (non-joint) configuration within
/// `committed`; `None` while it is still under way (or not in the log).
pub fn completed_at(log: &Log, request: RequestId, committed: LogIndex) -> Option<LogIndex> {
    let last = log
        .entries()
        .iter()
        .rposition(|e| e.request() == Some(request))?;
    let index = LogIndex(last as u64 + 1);
    let is_final = log
        .get(index)
        .and_then(|e| e.config())
        .is_some_and(|q| !q.is_joint());
    (is_final && index <= committed).then_some(index)
}

/// Joint consensus's second step as the entry a leader appends: C_new with
/// the request id of C_old,new, once `conf` is a joint configuration within
/// `committed`.
pub fn leave_joint_entry(conf: &Membership, log: &Log, committed: LogIndex) -> Option<Payload> {
    if !conf.is_committed(committed) {
        return None;
    }
    let quorum = leave_joint(&conf.quorum)?;
    let request = log.get(conf.index).and_then(|e| e.request())?;
    Some(Payload::Config { request, quorum })
}

/// The configuration whose majorities decide: `quorum` itself, or, with
/// the `joint-skip-old-majority` bug, only the new half of a joint one.
pub fn deciding(quorum: &Quorum, skip_old_majority: bool) -> Quorum {
    match quorum {
        Quorum::Joint { new, .. } if skip_old_majority => Quorum::Simple(new.clone()),
        q => q.clone(),
    }
}
// ANCHOR_END: deciding

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Entry, Payload, RequestId, Term};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn m(ids: &[u32]) -> Majority {
        Majority::new(ids.iter().map(|&i| NodeId(i)))
    }

    fn conf_entry(term: u64, q: Quorum) -> Entry {
        Entry {
            term: Term(term),
            payload: Payload::Config {
                request: RequestId { client: 9, seq: 0 },
                quorum: q,
            },
        }
    }

    fn noop(term: u64) -> Entry {
        Entry {
            term: Term(term),
            payload: Payload::Noop,
        }
    }

    #[test]
    fn configuration_of_a_log_is_its_last_config_entry_and_truncation_restores() {
        let boot = m(&[0, 1, 2]);
        let joint = Quorum::Joint {
            old: m(&[0, 1, 2]),
            new: m(&[1, 2, 3]),
        };
        let new = Quorum::Simple(m(&[1, 2, 3]));
        let mut log = Log::from_entries(vec![noop(1)]);
        let mut h = ConfigHistory::of_log(&log, &boot);
        assert_eq!(h.quorum, Quorum::Simple(boot.clone()));
        assert_eq!(h.index, LogIndex(0));
        for e in [
            conf_entry(1, joint.clone()),
            noop(1),
            conf_entry(1, new.clone()),
        ] {
            log.push(e.clone());
            assert_eq!(h.appended(log.last_index(), &e), e.config().is_some());
        }
        assert_eq!(h, ConfigHistory::of_log(&log, &boot));
        assert_eq!((&h.quorum, h.index), (&new, LogIndex(4)));
        assert_eq!(h.at(LogIndex(3)).quorum, joint);
        assert_eq!(h.at(LogIndex(1)).quorum, Quorum::Simple(boot.clone()));
        log.truncate(LogIndex(3));
        assert!(h.truncated(LogIndex(3)));
        assert!(!h.truncated(LogIndex(3)), "nothing more to remove");
        assert_eq!((&h.quorum, h.index), (&joint, LogIndex(2)));
        log.truncate(LogIndex(1));
        assert!(h.truncated(LogIndex(1)));
        assert_eq!(h.quorum, Quorum::Simple(boot.clone()));
        assert!(!h.truncated(LogIndex(0)), "the bootstrap voters stay");
        assert_eq!(h, ConfigHistory::of_log(&log, &boot));
    }

    proptest! {
        /// Kept in step by appends and truncations, the history is the
        /// one a full scan of the log gives.
        #[test]
        fn incremental_history_equals_a_scan(
            ops in proptest::collection::vec((any::<bool>(), 0u32..4, 0u64..6), 0..40)
        ) {
            let boot = m(&[0, 1, 2]);
            let mut log = Log::default();
            let mut h = ConfigHistory::of_log(&log, &boot);
            for (push, voter, at) in ops {
                if push {
                    let e = if voter == 0 { noop(1) } else {
                        conf_entry(1, Quorum::Simple(m(&[0, voter])))
                    };
                    log.push(e.clone());
                    h.appended(log.last_index(), &e);
                } else {
                    let last = LogIndex(at.min(log.last_index().0));
                    log.truncate(last);
                    h.truncated(last);
                }
                prop_assert_eq!(&h, &ConfigHistory::of_log(&log, &boot));
            }
        }
    }

    /// The transition table: (current, changes, mode) → entry or refusal.
    #[test]
    fn transition_table() {
        use VoterChange::{Add, Remove};
        let s = |ids: &[u32]| Quorum::Simple(m(ids));
        let j = |o: &[u32], n: &[u32]| Quorum::Joint {
            old: m(o),
            new: m(n),
        };
        let n = NodeId;
        type Case = (Quorum, Vec<VoterChange>, Mode, Result<Quorum, Refusal>);
        let cases: Vec<Case> = vec![
            (
                s(&[0, 1, 2]),
                vec![Add(n(3))],
                Mode::Joint,
                Ok(j(&[0, 1, 2], &[0, 1, 2, 3])),
            ),
            (
                s(&[0, 1, 2]),
                vec![Add(n(3)), Remove(n(0))],
                Mode::Joint,
                Ok(j(&[0, 1, 2], &[1, 2, 3])),
            ),
            (
                s(&[0, 1, 2]),
                vec![Add(n(3))],
                Mode::Single,
                Ok(s(&[0, 1, 2, 3])),
            ),
            (
                s(&[0, 1, 2, 3]),
                vec![Remove(n(0))],
                Mode::Single,
                Ok(s(&[1, 2, 3])),
            ),
            (
                s(&[0, 1, 2]),
                vec![Add(n(3)), Remove(n(0))],
                Mode::Single,
                Err(Refusal::NotSingle),
            ),
            (
                s(&[0, 1, 2]),
                vec![Add(n(1))],
                Mode::Single,
                Err(Refusal::NoChange),
            ),
            (
                s(&[0, 1, 2]),
                vec![Remove(n(5))],
                Mode::Joint,
                Err(Refusal::NoChange),
            ),
            (s(&[0, 1, 2]), vec![], Mode::Joint, Err(Refusal::NoChange)),
            (
                s(&[0]),
                vec![Remove(n(0))],
                Mode::Single,
                Err(Refusal::NoVoters),
            ),
            (
                j(&[0, 1, 2], &[1, 2, 3]),
                vec![Add(n(4))],
                Mode::Joint,
                Err(Refusal::ChangePending),
            ),
            (
                j(&[0, 1, 2], &[1, 2, 3]),
                vec![Add(n(4))],
                Mode::Single,
                Err(Refusal::ChangePending),
            ),
        ];
        for (current, changes, mode, want) in cases {
            assert_eq!(
                propose(&current, &changes, mode),
                want,
                "{current} {changes:?} {mode:?}"
            );
        }
        assert_eq!(leave_joint(&j(&[0, 1, 2], &[1, 2, 3])), Some(s(&[1, 2, 3])));
        assert_eq!(leave_joint(&s(&[1, 2, 3])), None);
        assert_eq!(deciding(&j(&[0, 1, 2], &[1, 2, 3]), true), s(&[1, 2, 3]));
        assert_eq!(
            deciding(&j(&[0, 1, 2], &[1, 2, 3]), false),
            j(&[0, 1, 2], &[1, 2, 3])
        );
    }

    /// A naive reference for the two rules that make one-server change and
    /// joint consensus safe, over sets of voter numbers.
    fn naive_majorities(voters: &BTreeSet<u32>) -> Vec<BTreeSet<u32>> {
        let v: Vec<u32> = voters.iter().copied().collect();
        (0u32..1 << v.len())
            .map(|mask| {
                (0..v.len())
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| v[i])
                    .collect::<BTreeSet<u32>>()
            })
            .filter(|s| 2 * s.len() > v.len())
            .collect()
    }

    fn to_set(q: &Majority) -> BTreeSet<u32> {
        q.voters().iter().map(|id| id.0).collect()
    }

    proptest! {
        /// A one-server change (what `propose` accepts in single mode)
        /// keeps every majority of the old set overlapping every majority
        /// of the new set, checked by enumerating all subsets.
        #[test]
        fn single_changes_overlap(old in proptest::collection::btree_set(0u32..6, 1..6),
                                  add in any::<bool>(), who in 0u32..6) {
            let old_m = Majority::new(old.iter().map(|&i| NodeId(i)));
            let change = if add { VoterChange::Add(NodeId(who)) } else { VoterChange::Remove(NodeId(who)) };
            if let Ok(Quorum::Simple(new_m)) = propose(&Quorum::Simple(old_m.clone()), &[change], Mode::Single) {
                for a in naive_majorities(&to_set(&old_m)) {
                    for b in naive_majorities(&to_set(&new_m)) {
                        prop_assert!(!a.is_disjoint(&b), "{a:?} and {b:?} do not overlap");
                    }
                }
            }
        }

        /// Any joint configuration agrees exactly when both halves agree
        /// (naively: the yes-set contains a majority subset of each), so a
        /// joint decision overlaps every majority of C_old and of C_new.
        #[test]
        fn joint_agrees_like_the_naive_reference(
            old in proptest::collection::btree_set(0u32..6, 1..5),
            new in proptest::collection::btree_set(0u32..6, 1..5),
            yes in proptest::collection::btree_set(0u32..6, 0..6),
        ) {
            let q = Quorum::Joint {
                old: Majority::new(old.iter().map(|&i| NodeId(i))),
                new: Majority::new(new.iter().map(|&i| NodeId(i))),
            };
            let naive = naive_majorities(&old).iter().any(|s| s.is_subset(&yes))
                && naive_majorities(&new).iter().any(|s| s.is_subset(&yes));
            prop_assert_eq!(q.agrees(|id| yes.contains(&id.0)), naive);
        }

        /// Entering and leaving joint consensus ends in exactly the set the
        /// changes describe, and the joint step keeps the old set.
        #[test]
        fn enter_and_leave_joint(old in proptest::collection::btree_set(0u32..6, 1..5),
                                 adds in proptest::collection::vec(0u32..6, 0..3),
                                 removes in proptest::collection::vec(0u32..6, 0..3)) {
            let old_m = Majority::new(old.iter().map(|&i| NodeId(i)));
            let mut changes: Vec<VoterChange> = adds.iter().map(|&i| VoterChange::Add(NodeId(i))).collect();
            changes.extend(removes.iter().map(|&i| VoterChange::Remove(NodeId(i))));
            let mut naive = old.clone();
            for c in &changes {
                match c {
                    VoterChange::Add(id) => { naive.insert(id.0); }
                    VoterChange::Remove(id) => { naive.remove(&id.0); }
                }
            }
            match propose(&Quorum::Simple(old_m.clone()), &changes, Mode::Joint) {
                Ok(joint @ Quorum::Joint { .. }) => {
                    let Quorum::Joint { old: o, .. } = &joint else { unreachable!() };
                    prop_assert_eq!(o, &old_m);
                    let Some(Quorum::Simple(fin)) = leave_joint(&joint) else { unreachable!() };
                    prop_assert_eq!(to_set(&fin), naive);
                }
                Ok(other) => prop_assert!(false, "joint mode produced {other}"),
                Err(Refusal::NoChange) => prop_assert_eq!(naive, old),
                Err(Refusal::NoVoters) => prop_assert!(naive.is_empty()),
                Err(e) => prop_assert!(false, "unexpected refusal {e:?}"),
            }
        }
    }
}
