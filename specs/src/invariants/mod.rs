//! The safety properties, one file each, as pure predicates over the live
//! nodes' [`NodeView`]s plus the ghost [`History`] where a property is about
//! the past. The model registers them; tests call them directly.
//!
//! A predicate returns `true` when the property holds.

mod consistent_committed_data;
mod election_safety;
mod history;
mod leader_append_only;
mod leader_completeness;
mod log_matching;
mod majority_reached_hwm;
mod monotonic_epoch;
mod monotonic_high_watermark;
mod one_uncommitted_config;
mod state_machine_safety;

pub use consistent_committed_data::consistent_committed_data;
pub use election_safety::election_safety;
pub use history::{History, HwmRegression};
pub use leader_append_only::leader_append_only;
pub use leader_completeness::leader_completeness;
pub use log_matching::log_matching;
pub use majority_reached_hwm::majority_reached_hwm;
pub use monotonic_epoch::monotonic_epoch;
pub use monotonic_high_watermark::monotonic_high_watermark;
pub use one_uncommitted_config::one_uncommitted_config;
pub use state_machine_safety::state_machine_safety;

use crate::quorum::{Majority, Quorum};
use crate::types::{Entry, LogIndex, NodeId, Term};

/// What the properties read of one live node, whatever its protocol.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    /// The node.
    pub id: NodeId,
    /// Its current term (KRaft: epoch).
    pub term: Term,
    /// True when it is the leader of `term`.
    pub is_leader: bool,
    /// The leader it believes in for `term` (itself when leader).
    pub known_leader: Option<NodeId>,
    /// Its log, index 1 first.
    pub log: &'a [Entry],
    /// The prefix it knows committed (Raft: commit index; KRaft: high
    /// watermark as an index).
    pub committed: LogIndex,
    /// The configuration the node uses (itself included when it votes;
    /// observers and spare servers are not among its voters).
    pub voters: &'a Quorum,
    /// The bootstrap voters: the configuration of a log prefix that holds
    /// no configuration entry.
    pub bootstrap: &'a Majority,
}

impl NodeView<'_> {
    /// The entry at `index`, if present.
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        if index.0 == 0 {
            None
        } else {
            self.log.get(index.0 as usize - 1)
        }
    }

    /// The committed prefix of the log.
    pub fn committed_entries(&self) -> &[Entry] {
        &self.log[..(self.committed.0 as usize).min(self.log.len())]
    }
}

/// Every property: its name and predicate, in the order they are reported.
pub type Predicate = fn(&[NodeView<'_>], &History) -> bool;

/// The safety properties every protocol must satisfy.
pub const ALWAYS: &[(&str, Predicate)] = &[
    ("election-safety", election_safety),
    ("log-matching", log_matching),
    ("leader-completeness", leader_completeness),
    ("state-machine-safety", state_machine_safety),
    ("leader-append-only", leader_append_only),
];

/// The safety properties only KRaft has, after the invariants of Kafka's
/// `RaftEventSimulationTest`. A KRaft model checks [`ALWAYS`] and these
/// (KRaft's messages feed the [`History`] that both lists read).
pub const KRAFT_ALWAYS: &[(&str, Predicate)] = &[
    ("monotonic-epoch", monotonic_epoch),
    ("monotonic-high-watermark", monotonic_high_watermark),
    ("majority-reached-high-watermark", majority_reached_hwm),
    ("consistent-committed-data", consistent_committed_data),
];

/// The safety properties only membership change adds (every other property
/// must hold under every configuration too).
pub const RECONFIG_ALWAYS: &[(&str, Predicate)] =
    &[("one-uncommitted-config", one_uncommitted_config)];
