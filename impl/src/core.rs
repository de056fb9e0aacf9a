//! The protocol core as the runtime holds it: the specs' [`AnyNode`] in
//! its production configuration ([`AnyConfig::production`], the one the
//! model's standard suite checks). The runtime and the replay test step it
//! with [`AnyNode::step_batch`], the core's own batching included.

use kraftwerk_specs::node::{Action, Durable};
pub use kraftwerk_specs::protocol::{AnyConfig, AnyNode, ProtocolKind as Protocol};
use kraftwerk_specs::types::NodeId;
use serde::{Deserialize, Serialize};

/// A node's externally visible state (for `status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The node.
    pub id: u32,
    /// Its role, as the core names it.
    pub role: String,
    /// Its term (KRaft: epoch).
    pub term: u64,
    /// The leader it knows, if any.
    pub leader: Option<u32>,
    /// Commit index (KRaft: high watermark).
    pub commit: u64,
    /// Index of its last log entry.
    pub log_end: u64,
    /// Malformed, oversized or wrong-cluster frames dropped so far (set by
    /// the runtime).
    pub bad_frames: u64,
    /// Index of the last entry applied to the key-value store (set by the
    /// runtime).
    pub applied: u64,
    /// Digest of the key-value store's contents (set by the runtime).
    pub digest: u64,
}

/// Restores a node of `protocol` in its production configuration from
/// durable state.
pub fn restore(
    protocol: Protocol,
    id: NodeId,
    voters: &[NodeId],
    observers: &[NodeId],
    durable: Durable,
) -> (AnyNode, Vec<Action>) {
    AnyConfig::production(protocol, voters, observers).restore(id, durable)
}

/// What `status` shows of `node` (the runtime adds its own counters).
pub fn status(node: &AnyNode) -> Status {
    Status {
        id: node.id().0,
        role: node.role_name().into(),
        term: node.hard().term.0,
        leader: node.known_leader().map(|l| l.0),
        commit: node.committed().0,
        log_end: node.log().last_index().0,
        bad_frames: 0,
        applied: 0,
        digest: 0,
    }
}

/// The voters of a cluster of `all` nodes where `observers` only observe.
pub fn voters_of(all: &[NodeId], observers: &[NodeId]) -> Vec<NodeId> {
    all.iter()
        .copied()
        .filter(|n| !observers.contains(n))
        .collect()
}
