//! The protocol core as the runtime holds it: a Raft or a KRaft node, and
//! the one pure step path ([`apply_inputs`]) both the runtime and the
//! replay test use.

use kraftwerk_specs::kraft;
use kraftwerk_specs::log::Log;
use kraftwerk_specs::raft::{self, Action, HardState, Input};
use kraftwerk_specs::types::{LogIndex, NodeId, Term};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which protocol a cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Protocol {
    /// Raft (with the leader's no-op on election).
    Raft,
    /// KRaft (KIP-595).
    Kraft,
}

/// One node of either protocol.
#[derive(Clone, Debug)]
pub enum AnyNode {
    /// A Raft node.
    Raft(raft::Node),
    /// A KRaft node.
    Kraft(kraft::Node),
}

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

impl AnyNode {
    /// Restores a node from durable state. Raft runs with
    /// `leader_noop = true`; KRaft with pre-vote and check-quorum on.
    pub fn restore(
        protocol: Protocol,
        id: NodeId,
        voters: &[NodeId],
        observers: &[NodeId],
        hard: HardState,
        log: Log,
        out: &mut Vec<Action>,
    ) -> AnyNode {
        match protocol {
            Protocol::Raft => {
                let mut cfg = raft::Config::new(voters.iter().copied());
                cfg.leader_noop = true;
                // Non-voting servers are replicated to, so that an
                // administrator can add them once they have caught up.
                cfg.servers.extend(observers.iter().copied());
                cfg.servers.sort();
                cfg.servers.dedup();
                AnyNode::Raft(raft::Node::restore(id, Arc::new(cfg), hard, log, out))
            }
            Protocol::Kraft => {
                let mut cfg = kraft::Config::new(voters.iter().copied(), observers.iter().copied());
                // What a deployment wants: a restarted or partitioned voter
                // does not disrupt a working leader (KIP-996), and a leader
                // cut off from a majority resigns.
                cfg.pre_vote = true;
                cfg.check_quorum = true;
                AnyNode::Kraft(kraft::Node::restore(id, Arc::new(cfg), hard, log, out))
            }
        }
    }

    /// Feeds one input.
    pub fn step(&mut self, input: Input, out: &mut Vec<Action>) {
        match self {
            AnyNode::Raft(n) => n.step(input, out),
            AnyNode::Kraft(n) => n.step(input, out),
        }
    }

    /// True when the node leads its term.
    pub fn is_leader(&self) -> bool {
        match self {
            AnyNode::Raft(n) => n.is_leader(),
            AnyNode::Kraft(n) => n.is_leader(),
        }
    }

    /// The leader the node knows.
    pub fn known_leader(&self) -> Option<NodeId> {
        match self {
            AnyNode::Raft(n) => n.known_leader(),
            AnyNode::Kraft(n) => n.known_leader(),
        }
    }

    /// The node's local invariants.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            AnyNode::Raft(n) => n.validate(),
            AnyNode::Kraft(n) => n.validate(),
        }
    }

    /// What `status` shows.
    pub fn status(&self) -> Status {
        let (id, role, term, commit, log): (NodeId, String, Term, LogIndex, &Log) = match self {
            AnyNode::Raft(n) => {
                let role = match n.role {
                    raft::Role::Follower { .. } => "follower",
                    raft::Role::Candidate { .. } => "candidate",
                    raft::Role::Leader { .. } => "leader",
                };
                (n.id, role.into(), n.hard.term, n.commit, &n.log)
            }
            AnyNode::Kraft(n) => {
                let role = format!("{:?}", n.state);
                let role = role
                    .split(|c: char| !c.is_alphanumeric())
                    .next()
                    .unwrap_or("")
                    .to_lowercase();
                (n.id, role, n.hard.term, n.high_watermark, &n.log)
            }
        };
        Status {
            id: id.0,
            role,
            term: term.0,
            leader: self.known_leader().map(|l| l.0),
            commit: commit.0,
            log_end: log.last_index().0,
            bad_frames: 0,
            applied: 0,
            digest: 0,
        }
    }
}

/// Steps `node` through `inputs` in order and returns every action, in the
/// order the driver must carry them out. The runtime's only step path.
pub fn apply_inputs(node: &mut AnyNode, inputs: impl IntoIterator<Item = Input>) -> Vec<Action> {
    let mut out = Vec::new();
    for input in inputs {
        node.step(input, &mut out);
    }
    out
}

/// The voters of a cluster of `all` nodes where `observers` only observe.
pub fn voters_of(all: &[NodeId], observers: &[NodeId]) -> Vec<NodeId> {
    all.iter()
        .copied()
        .filter(|n| !observers.contains(n))
        .collect()
}
