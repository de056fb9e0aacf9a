//! The properties, as one registry ([`REGISTRY`]) that every driver
//! iterates: the safety properties, one file each, as pure predicates over
//! the live nodes' [`NodeView`]s plus the ghost [`History`] where a
//! property is about the past, and their "sometimes" partners
//! ([`sometimes`]). Each entry says which protocols it is about and what a
//! run needs to reach it ([`Need`]); the model checks every entry that
//! applies to its bounds, in registry order, and names none of them.
//!
//! Adding a property: its file here (predicate, doc, tests and a
//! `PROPERTY` descriptor), its `mod` line and its line in [`REGISTRY`].
//! Nothing in `model/` or `impl/` changes unless it reads something no
//! [`World`] field holds yet.
//!
//! A predicate returns `true` when the property holds.

pub mod consistent_committed_data;
pub mod election_safety;
mod history;
pub mod leader_append_only;
pub mod leader_completeness;
pub mod log_matching;
pub mod majority_reached_hwm;
pub mod monotonic_epoch;
pub mod monotonic_high_watermark;
pub mod one_uncommitted_config;
mod property;
pub mod sometimes;
pub mod state_machine_safety;

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
pub use property::{Expectation, Need, Property, Scope, World, BOTH, KRAFT, RAFT};
pub use state_machine_safety::state_machine_safety;

use crate::protocol::ProtocolKind;
use crate::quorum::{Majority, Quorum};
use crate::types::{Entry, LogIndex, NodeId, Term};

/// What the properties read of one live node, whatever its protocol.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    /// The node.
    pub id: NodeId,
    /// Its current term (KRaft: epoch).
    pub term: Term,
    /// The candidate it voted for in `term`, as its hard state holds it.
    pub vote: Option<NodeId>,
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

/// Every property, in report order: the safety properties, then their
/// "sometimes" partners. A run checks the ones that apply to its
/// [`Scope`] ([`Property::applies`]).
pub const REGISTRY: &[Property] = &[
    election_safety::PROPERTY,
    log_matching::PROPERTY,
    leader_completeness::PROPERTY,
    state_machine_safety::PROPERTY,
    leader_append_only::PROPERTY,
    one_uncommitted_config::PROPERTY,
    monotonic_epoch::PROPERTY,
    monotonic_high_watermark::PROPERTY,
    majority_reached_hwm::PROPERTY,
    consistent_committed_data::PROPERTY,
    sometimes::LEADER_ELECTED,
    sometimes::ENTRY_COMMITTED,
    sometimes::NEW_LEADER_AFTER_ACK,
    sometimes::LEADER_REPLACED_AFTER_CRASH,
    sometimes::CONFLICT_TRUNCATED,
    sometimes::DIVERGING_EPOCH_TRUNCATION,
    sometimes::HWM_IN_SECOND_EPOCH,
    sometimes::LEADER_RESIGNED_AND_REPLACED,
    sometimes::JOINT_CONFIG_COMMITTED,
    sometimes::FINAL_CONFIG_COMMITTED,
    sometimes::REMOVED_LEADER_STEPPED_DOWN,
    sometimes::ADDED_SERVER_VOTES,
    sometimes::OBSERVER_REPLICATES,
];

/// The safety properties of `protocol`, in report order, whatever their
/// needs (one that a run's bounds make meaningless holds vacuously): what
/// the cores' own tests check after every step.
pub fn always(protocol: ProtocolKind) -> impl Iterator<Item = &'static Property> {
    REGISTRY
        .iter()
        .filter(move |p| p.expectation == Expectation::Always && p.protocols.contains(&protocol))
}

/// The registered property called `name`.
pub fn by_name(name: &str) -> Option<&'static Property> {
    REGISTRY.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, p) in REGISTRY.iter().enumerate() {
            assert!(
                REGISTRY[i + 1..].iter().all(|q| q.name != p.name),
                "{} registered twice",
                p.name
            );
        }
    }

    #[test]
    fn every_safety_property_has_partners_and_every_witness_a_property() {
        for p in REGISTRY {
            match p.expectation {
                Expectation::Always => {
                    assert!(!p.partners.is_empty(), "{} has no partner", p.name);
                    for q in p.partners {
                        assert_eq!(q.expectation, Expectation::Sometimes, "{}", q.name);
                        assert!(by_name(q.name).is_some(), "{} not registered", q.name);
                        assert!(
                            q.protocols.iter().any(|k| p.protocols.contains(k)),
                            "{} partners {} in no common protocol",
                            q.name,
                            p.name
                        );
                    }
                }
                Expectation::Sometimes => {
                    assert!(p.partners.is_empty(), "{}", p.name);
                    let partnered = REGISTRY
                        .iter()
                        .any(|s| s.partners.iter().any(|q| q.name == p.name));
                    assert!(partnered, "{} partners no safety property", p.name);
                }
            }
        }
    }

    #[test]
    fn safety_properties_come_first() {
        let first_witness = REGISTRY
            .iter()
            .position(|p| p.expectation == Expectation::Sometimes)
            .unwrap();
        assert!(REGISTRY[first_witness..]
            .iter()
            .all(|p| p.expectation == Expectation::Sometimes));
    }
}
