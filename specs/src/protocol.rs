//! What every protocol core offers its drivers: the [`Protocol`] trait, and
//! [`AnyNode`] / [`AnyConfig`], the one place where a driver that picks the
//! protocol at run time (the model checker, `kraftwerk-node`) dispatches to
//! Raft or KRaft.

use crate::invariants::NodeView;
use crate::log::Log;
use crate::node::{coalesce, Action, Durable, HardState, Input};
use crate::types::{LogIndex, NodeId, RenameNodes};
use crate::{kraft, raft};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Which protocol a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolKind {
    /// Raft, push-based (AppendEntries).
    Raft,
    /// KRaft, pull-based (Fetch).
    Kraft,
}

impl ProtocolKind {
    /// Both protocols.
    pub const ALL: [ProtocolKind; 2] = [ProtocolKind::Raft, ProtocolKind::Kraft];

    /// The command-line spelling: `raft` or `kraft`.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::Raft => "raft",
            ProtocolKind::Kraft => "kraft",
        }
    }

    /// The protocol's word for a term: `term` or `epoch`.
    pub fn term_word(self) -> &'static str {
        match self {
            ProtocolKind::Raft => "term",
            ProtocolKind::Kraft => "epoch",
        }
    }

    /// The protocol's word for the committed prefix: `commit` or `hwm`.
    pub fn commit_word(self) -> &'static str {
        match self {
            ProtocolKind::Raft => "commit",
            ProtocolKind::Kraft => "hwm",
        }
    }

    /// The protocol's word for a server that does not vote.
    pub fn non_voter_word(self) -> &'static str {
        match self {
            ProtocolKind::Raft => "non-voter",
            ProtocolKind::Kraft => "observer",
        }
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ProtocolKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raft" => Ok(ProtocolKind::Raft),
            "kraft" => Ok(ProtocolKind::Kraft),
            _ => Err(format!("unknown protocol '{s}' (expected raft or kraft)")),
        }
    }
}

/// A protocol core: a pure state machine that a driver restores from its
/// durable state and steps with inputs.
pub trait Protocol: Sized {
    /// Settings shared by every node of a cluster.
    type Config;
    /// Which protocol this is.
    const KIND: ProtocolKind;

    /// A node (re)starting from what it persisted (a fresh one from
    /// [`Durable::default`]), and the actions of its start: timers to arm,
    /// messages a restarted node sends at once.
    fn restore(id: NodeId, cfg: Arc<Self::Config>, durable: Durable) -> (Self, Vec<Action>);
    /// Feeds one input; returns its actions, in the order they must be
    /// carried out ([`crate::node`]'s emission contract).
    fn step(&mut self, input: Input) -> Vec<Action>;
    /// Feeds several inputs in order and returns all their actions as one
    /// batch, with a leader's batching ([`crate::node::coalesce`]) across
    /// them: what a driver that steps a burst of inputs together (group
    /// commit) carries out.
    fn step_batch(&mut self, inputs: impl IntoIterator<Item = Input>) -> Vec<Action> {
        let mut out = Vec::new();
        for input in inputs {
            out.extend(self.step(input));
        }
        coalesce(out)
    }
    /// This node.
    fn id(&self) -> NodeId;
    /// The hard state as the node holds it in memory.
    fn hard(&self) -> HardState;
    /// The log as the node holds it in memory.
    fn log(&self) -> &Log;
    /// The committed prefix it knows (Raft: commit index; KRaft: high
    /// watermark).
    fn committed(&self) -> LogIndex;
    /// True when it leads its term.
    fn is_leader(&self) -> bool;
    /// The leader it knows for its term (itself when it leads).
    fn known_leader(&self) -> Option<NodeId>;
    /// What the safety properties read.
    fn view(&self) -> NodeView<'_>;
    /// The node's local invariants; the first one broken.
    fn validate(&self) -> Result<(), String>;
    /// The role (KRaft: state) in one lower-case word: `leader`,
    /// `follower`, `candidate`, ...
    fn role_name(&self) -> &'static str;
    /// The role with what only it knows, for traces: `leader (match
    /// n1:2)`, `follower of n0`, `candidate (votes n0 n1)`.
    fn role_detail(&self) -> String;
}

/// The [`Protocol`] methods a core implements as inherent methods and
/// fields of the same names (`restore`, `step`, `is_leader`,
/// `known_leader`, `view`, `validate`; fields `id`, `hard`, `log`), so
/// that each core writes only what differs.
macro_rules! inherent_protocol_methods {
    () => {
        fn restore(id: NodeId, cfg: Arc<Config>, durable: Durable) -> (Self, Vec<Action>) {
            Self::restore(id, cfg, durable)
        }
        fn step(&mut self, input: Input) -> Vec<Action> {
            Self::step(self, input)
        }
        fn id(&self) -> NodeId {
            self.id
        }
        fn hard(&self) -> HardState {
            self.hard
        }
        fn log(&self) -> &Log {
            &self.log
        }
        fn is_leader(&self) -> bool {
            Self::is_leader(self)
        }
        fn known_leader(&self) -> Option<NodeId> {
            Self::known_leader(self)
        }
        fn view(&self) -> NodeView<'_> {
            Self::view(self)
        }
        fn validate(&self) -> Result<(), String> {
            Self::validate(self)
        }
    };
}
pub(crate) use inherent_protocol_methods;

/// The inherent `step` and `view` of a core, written once: `step` answers
/// requests through [`crate::replica::ReplicaOwner::route_request`], hands
/// every other input to the core's own `dispatch`, and applies a leader's
/// batching ([`crate::node::coalesce`]); `view` reads the fields both cores
/// have (`id`, `hard`, `log`, `conf`, `cfg.voters`) and the committed prefix
/// from the field named.
macro_rules! core_step_and_view {
    ($committed:ident) => {
        /// Feeds one input to the node and returns its actions, in the
        /// order they must be carried out ([`crate::node`]'s emission
        /// contract), with a leader's batching ([`crate::node::coalesce`]).
        pub fn step(&mut self, input: Input) -> Vec<Action> {
            let mut out = Vec::new();
            if let Some(input) = self.route_request(input, &mut out) {
                self.dispatch(input, &mut out);
            }
            crate::node::coalesce(out)
        }

        /// The node as the safety properties see it.
        pub fn view(&self) -> NodeView<'_> {
            NodeView {
                id: self.id,
                term: self.hard.term,
                vote: self.hard.voted_for,
                is_leader: self.is_leader(),
                known_leader: self.known_leader(),
                log: self.log.entries(),
                committed: self.$committed,
                voters: &self.conf.quorum,
                bootstrap: &self.cfg.voters,
            }
        }
    };
}
pub(crate) use core_step_and_view;

/// A node of either protocol, for drivers that choose at run time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnyNode {
    /// A Raft node.
    Raft(raft::Node),
    /// A KRaft node.
    Kraft(kraft::Node),
}

/// The settings of a cluster of either protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AnyConfig {
    /// Raft's.
    Raft(Arc<raft::Config>),
    /// KRaft's.
    Kraft(Arc<kraft::Config>),
}

impl AnyConfig {
    /// What `kraftwerk-node` runs: [`raft::Config::production`] or
    /// [`kraft::Config::production`] for `voters`, with `others` as the
    /// servers that do not vote (Raft replicates to them; KRaft's
    /// observers).
    pub fn production(kind: ProtocolKind, voters: &[NodeId], others: &[NodeId]) -> AnyConfig {
        match kind {
            ProtocolKind::Raft => AnyConfig::Raft(Arc::new(raft::Config::production(
                voters.iter().copied(),
                others.iter().copied(),
            ))),
            ProtocolKind::Kraft => AnyConfig::Kraft(Arc::new(kraft::Config::production(
                voters.iter().copied(),
                others.iter().copied(),
            ))),
        }
    }

    /// Which protocol.
    pub fn kind(&self) -> ProtocolKind {
        match self {
            AnyConfig::Raft(_) => ProtocolKind::Raft,
            AnyConfig::Kraft(_) => ProtocolKind::Kraft,
        }
    }

    /// A node of this configuration restored from `durable`.
    pub fn restore(&self, id: NodeId, durable: Durable) -> (AnyNode, Vec<Action>) {
        match self {
            AnyConfig::Raft(c) => {
                let (n, out) = raft::Node::restore(id, c.clone(), durable);
                (AnyNode::Raft(n), out)
            }
            AnyConfig::Kraft(c) => {
                let (n, out) = kraft::Node::restore(id, c.clone(), durable);
                (AnyNode::Kraft(n), out)
            }
        }
    }
}

/// Forwards a method of [`Protocol`] to the node inside.
macro_rules! forward {
    ($($name:ident -> $ret:ty;)*) => {
        $(
            #[doc = concat!("[`Protocol::", stringify!($name), "`] of the node inside.")]
            pub fn $name(&self) -> $ret {
                match self {
                    AnyNode::Raft(n) => Protocol::$name(n),
                    AnyNode::Kraft(n) => Protocol::$name(n),
                }
            }
        )*
    };
}

impl AnyNode {
    forward! {
        id -> NodeId;
        hard -> HardState;
        log -> &Log;
        committed -> LogIndex;
        is_leader -> bool;
        known_leader -> Option<NodeId>;
        view -> NodeView<'_>;
        validate -> Result<(), String>;
        role_name -> &'static str;
        role_detail -> String;
    }

    /// [`Protocol::step`] of the node inside.
    pub fn step(&mut self, input: Input) -> Vec<Action> {
        match self {
            AnyNode::Raft(n) => n.step(input),
            AnyNode::Kraft(n) => n.step(input),
        }
    }

    /// [`Protocol::step_batch`] of the node inside.
    pub fn step_batch(&mut self, inputs: impl IntoIterator<Item = Input>) -> Vec<Action> {
        match self {
            AnyNode::Raft(n) => n.step_batch(inputs),
            AnyNode::Kraft(n) => n.step_batch(inputs),
        }
    }

    /// Which protocol.
    pub fn kind(&self) -> ProtocolKind {
        match self {
            AnyNode::Raft(_) => ProtocolKind::Raft,
            AnyNode::Kraft(_) => ProtocolKind::Kraft,
        }
    }

    /// True when the node votes in its configuration (a non-voter or
    /// observer otherwise).
    pub fn is_voter(&self) -> bool {
        let v = self.view();
        v.voters.contains(v.id)
    }

    /// The durable part as the node holds it in memory (what it would have
    /// on disk had every persistence action been carried out).
    pub fn durable(&self) -> Durable {
        Durable {
            hard: self.hard(),
            log: self.log().clone(),
        }
    }
}

impl RenameNodes for AnyNode {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        match self {
            AnyNode::Raft(n) => AnyNode::Raft(n.rename_nodes(f)),
            AnyNode::Kraft(n) => AnyNode::Kraft(n.rename_nodes(f)),
        }
    }
}

/// Items separated by single spaces (`n1 n2`), `-` when there are none.
pub(crate) fn words<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let s = items
        .into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}
