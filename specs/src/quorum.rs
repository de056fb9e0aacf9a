//! Quorum maths, a leaf module that knows nothing of the protocols (after
//! etcd-io/raft's `quorum/`): when does a set of voters agree, and what is
//! the largest index that a quorum has acknowledged.
//!
//! A [`Quorum`] is either a simple majority configuration or a joint one
//! (Raft §6, C_old,new), where every decision needs a majority of *both*.

use crate::types::{LogIndex, NodeId, RenameNodes};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A set of voters deciding by simple majority. Kept sorted and unique.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Majority(Vec<NodeId>);

impl Majority {
    /// The configuration with no voter.
    pub const fn empty() -> Majority {
        Majority(Vec::new())
    }

    /// A majority configuration of `voters` (duplicates are removed).
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Majority {
        let mut v: Vec<NodeId> = voters.into_iter().collect();
        v.sort();
        v.dedup();
        Majority(v)
    }

    /// The voters, sorted.
    pub fn voters(&self) -> &[NodeId] {
        &self.0
    }

    /// True when `id` is a voter.
    pub fn contains(&self, id: NodeId) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    /// How many votes make a majority: ⌊n/2⌋ + 1. An empty configuration
    /// needs no votes (it agrees to everything, as in etcd).
    pub fn needed(&self) -> usize {
        if self.0.is_empty() {
            0
        } else {
            self.0.len() / 2 + 1
        }
    }

    /// True when the voters for which `yes` holds form a majority.
    pub fn agrees(&self, yes: impl Fn(NodeId) -> bool) -> bool {
        self.0.iter().filter(|&&id| yes(id)).count() >= self.needed()
    }

    /// The largest index that a majority has acknowledged, where `acked(id)`
    /// is the highest index voter `id` is known to hold. An empty
    /// configuration returns `LogIndex(u64::MAX)` (it constrains nothing).
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> LogIndex) -> LogIndex {
        if self.0.is_empty() {
            return LogIndex(u64::MAX);
        }
        let mut acks: Vec<LogIndex> = self.0.iter().map(|&id| acked(id)).collect();
        acks.sort_unstable_by(|a, b| b.cmp(a));
        // Sorted descending, the entry at position needed-1 is held by at
        // least `needed` voters.
        acks[self.needed() - 1]
    }
}

/// A configuration with no voter (for tests and views of non-voters).
pub static NO_VOTERS: Quorum = Quorum::Simple(Majority::empty());

/// A set of no voters (for tests).
pub static NO_MAJORITY: Majority = Majority::empty();

// ANCHOR: quorum
/// A quorum configuration: simple, or joint (old and new must both agree).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Quorum {
    /// One majority configuration.
    Simple(Majority),
    /// C_old,new: a decision needs a majority of each.
    Joint {
        /// The configuration being left.
        old: Majority,
        /// The configuration being entered.
        new: Majority,
    },
}
// ANCHOR_END: quorum

impl Quorum {
    /// A simple majority configuration.
    pub fn simple(voters: impl IntoIterator<Item = NodeId>) -> Quorum {
        Quorum::Simple(Majority::new(voters))
    }

    /// True for a joint configuration (a change half done).
    pub fn is_joint(&self) -> bool {
        matches!(self, Quorum::Joint { .. })
    }

    /// True when `id` votes in any half of the configuration.
    pub fn contains(&self, id: NodeId) -> bool {
        match self {
            Quorum::Simple(m) => m.contains(id),
            Quorum::Joint { old, new } => old.contains(id) || new.contains(id),
        }
    }

    /// Every voter of the configuration, sorted, each once.
    pub fn voters(&self) -> Vec<NodeId> {
        match self {
            Quorum::Simple(m) => m.voters().to_vec(),
            Quorum::Joint { old, new } => {
                Majority::new(old.voters().iter().chain(new.voters()).copied()).0
            }
        }
    }

    // ANCHOR: joint_counting
    /// True when the voters for which `yes` holds form a quorum.
    pub fn agrees(&self, yes: impl Fn(NodeId) -> bool) -> bool {
        match self {
            Quorum::Simple(m) => m.agrees(yes),
            Quorum::Joint { old, new } => old.agrees(&yes) && new.agrees(&yes),
        }
    }

    /// The largest index acknowledged by a quorum.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> LogIndex) -> LogIndex {
        match self {
            Quorum::Simple(m) => m.committed_index(acked),
            Quorum::Joint { old, new } => {
                old.committed_index(&acked).min(new.committed_index(&acked))
            }
        }
    }
    // ANCHOR_END: joint_counting
}

impl RenameNodes for Majority {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        Majority::new(self.0.iter().map(|&id| f(id)))
    }
}

impl RenameNodes for Quorum {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        match self {
            Quorum::Simple(m) => Quorum::Simple(m.rename_nodes(f)),
            Quorum::Joint { old, new } => Quorum::Joint {
                old: old.rename_nodes(f),
                new: new.rename_nodes(f),
            },
        }
    }
}

impl fmt::Display for Majority {
    /// `n0,n1,n2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.0.iter().map(|id| id.to_string()).collect();
        write!(f, "{}", ids.join(","))
    }
}

impl fmt::Display for Quorum {
    /// `conf{n0,n1,n2}` or `joint{n0,n1,n2|n1,n2,n3}` (old | new).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quorum::Simple(m) => write!(f, "conf{{{m}}}"),
            Quorum::Joint { old, new } => write!(f, "joint{{{old}|{new}}}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn ids(v: &[u32]) -> Vec<NodeId> {
        v.iter().map(|&i| NodeId(i)).collect()
    }

    /// The naive reference: try every candidate index and keep the largest
    /// one that more than half of the voters hold.
    fn naive_committed(voters: &[NodeId], acked: &BTreeMap<NodeId, LogIndex>) -> LogIndex {
        if voters.is_empty() {
            return LogIndex(u64::MAX);
        }
        let get = |id: &NodeId| acked.get(id).copied().unwrap_or_default();
        voters
            .iter()
            .map(get)
            .filter(|&c| 2 * voters.iter().filter(|v| get(v) >= c).count() > voters.len())
            .max()
            .unwrap_or_default()
    }

    fn naive_agrees(voters: &[NodeId], yes: &[NodeId]) -> bool {
        2 * voters.iter().filter(|v| yes.contains(v)).count() > voters.len() || voters.is_empty()
    }

    #[test]
    fn majority_table() {
        for (n, needed) in [(0, 0), (1, 1), (2, 2), (3, 2), (4, 3), (5, 3)] {
            let m = Majority::new((0..n).map(NodeId));
            assert_eq!(m.needed(), needed, "n = {n}");
        }
        let m = Majority::new(ids(&[1, 2, 3]));
        let acked = |id: NodeId| LogIndex([0, 5, 3, 1][id.0 as usize]);
        assert_eq!(m.committed_index(acked), LogIndex(3));
        assert!(m.agrees(|id| id.0 != 3));
        assert!(!m.agrees(|id| id.0 == 3));
    }

    #[test]
    fn joint_needs_both_majorities() {
        let q = Quorum::Joint {
            old: Majority::new(ids(&[1, 2, 3])),
            new: Majority::new(ids(&[3, 4, 5])),
        };
        // 1 and 2 are a majority of old only.
        assert!(!q.agrees(|id| id.0 <= 2));
        // 2, 3 and 4: a majority of each.
        assert!(q.agrees(|id| (2..=4).contains(&id.0)));
        assert_eq!(q.voters(), ids(&[1, 2, 3, 4, 5]));
        // old acks {1:9, 2:9, 3:1}, new acks {3:1, 4:2, 5:2}: min(9, 2).
        let acked = |id: NodeId| LogIndex([0, 9, 9, 1, 2, 2][id.0 as usize]);
        assert_eq!(q.committed_index(acked), LogIndex(2));
    }

    proptest! {
        #[test]
        fn majority_matches_naive(
            voters in proptest::collection::btree_set(0u32..7, 0..7),
            acks in proptest::collection::btree_map(0u32..7, 0u64..6, 0..7),
        ) {
            let voters: Vec<NodeId> = voters.into_iter().map(NodeId).collect();
            let acked: BTreeMap<NodeId, LogIndex> =
                acks.into_iter().map(|(k, v)| (NodeId(k), LogIndex(v))).collect();
            let m = Majority::new(voters.clone());
            let got = m.committed_index(|id| acked.get(&id).copied().unwrap_or_default());
            prop_assert_eq!(got, naive_committed(&voters, &acked));
            let yes: Vec<NodeId> = acked.iter().filter(|(_, i)| i.0 % 2 == 0).map(|(k, _)| *k).collect();
            prop_assert_eq!(m.agrees(|id| yes.contains(&id)), naive_agrees(&voters, &yes));
        }

        #[test]
        fn joint_is_the_conjunction(
            old in proptest::collection::btree_set(0u32..7, 1..6),
            new in proptest::collection::btree_set(0u32..7, 1..6),
            acks in proptest::collection::btree_map(0u32..7, 0u64..6, 0..7),
        ) {
            let old: Vec<NodeId> = old.into_iter().map(NodeId).collect();
            let new: Vec<NodeId> = new.into_iter().map(NodeId).collect();
            let acked: BTreeMap<NodeId, LogIndex> =
                acks.into_iter().map(|(k, v)| (NodeId(k), LogIndex(v))).collect();
            let q = Quorum::Joint { old: Majority::new(old.clone()), new: Majority::new(new.clone()) };
            let got = q.committed_index(|id| acked.get(&id).copied().unwrap_or_default());
            prop_assert_eq!(got, naive_committed(&old, &acked).min(naive_committed(&new, &acked)));
            let yes: Vec<NodeId> = acked.keys().copied().collect();
            prop_assert_eq!(
                q.agrees(|id| yes.contains(&id)),
                naive_agrees(&old, &yes) && naive_agrees(&new, &yes)
            );
        }
    }
}
