//! Newtypes shared by every protocol: node ids, terms (KRaft: epochs), log
//! indexes (KRaft: offsets), client request ids, and log entries.
//!
//! No protocol state or message field is a bare integer: a term can never be
//! compared with an index by mistake.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The identity of a server. In the model it is the server's actor index.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct NodeId(pub u32);

/// A Raft term. KRaft calls the same number an epoch (see [`Epoch`]).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Term(pub u64);

/// KRaft's name for a term: the leader epoch. One number space, two names.
pub type Epoch = Term;

/// A 1-based position in the log; `LogIndex(0)` is "before the first entry".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogIndex(pub u64);

/// Identifies one client request, so that a retried request is applied once.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct RequestId {
    /// The client that issued the request.
    pub client: u64,
    /// The client's sequence number for it.
    pub seq: u64,
}

impl Term {
    /// The next term.
    pub fn next(self) -> Term {
        Term(self.0 + 1)
    }
}

impl LogIndex {
    /// The index after this one.
    pub fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }

    /// The index before this one (saturating at 0).
    pub fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }

    /// `self + n`.
    pub fn plus(self, n: usize) -> LogIndex {
        LogIndex(self.0 + n as u64)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}#{}", self.client, self.seq)
    }
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Payload {
    /// A client command: opaque bytes for the state machine, tagged with the
    /// request id used to de-duplicate retries.
    Command {
        /// The request that proposed it.
        request: RequestId,
        /// The command itself, opaque to the protocol.
        data: Vec<u8>,
    },
    /// A record with no effect on the state machine (a new leader's no-op,
    /// KRaft's leader-change record).
    Noop,
    /// A configuration (Raft §6 / dissertation §4, KIP-853's VotersRecord):
    /// it takes effect as soon as it is in a log, committed or not, and a
    /// truncation that removes it restores the previous one
    /// ([`crate::membership`]).
    Config {
        /// The membership-change request that produced it (both entries of
        /// a joint change carry the same one).
        request: RequestId,
        /// The voters from this entry on.
        quorum: crate::quorum::Quorum,
    },
}

/// One log entry: the term in which a leader created it, and its payload.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that appended the entry.
    pub term: Term,
    /// What the entry carries.
    pub payload: Payload,
}

impl Entry {
    /// The request id of a command entry.
    pub fn request(&self) -> Option<RequestId> {
        match &self.payload {
            Payload::Command { request, .. } | Payload::Config { request, .. } => Some(*request),
            Payload::Noop => None,
        }
    }

    /// The configuration an entry carries, if it is a configuration entry.
    pub fn config(&self) -> Option<&crate::quorum::Quorum> {
        match &self.payload {
            Payload::Config { quorum, .. } => Some(quorum),
            _ => None,
        }
    }
}

impl fmt::Display for Entry {
    /// `2/c0#1` for a command of term 2, `2/noop` for a no-op,
    /// `2/conf{n0,n1}` and `2/joint{n0,n1,n2|n1,n2,n3}` for configurations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.payload {
            Payload::Command { request, .. } => write!(f, "{}/{}", self.term, request),
            Payload::Noop => write!(f, "{}/noop", self.term),
            Payload::Config { quorum, .. } => write!(f, "{}/{}", self.term, quorum),
        }
    }
}

/// Renames node ids, for symmetry reduction: `f` is a permutation of ids.
///
/// Every type that stores a [`NodeId`] implements it, so that a driver can
/// relabel servers consistently without knowing the protocol's fields.
pub trait RenameNodes {
    /// The same value with every node id `n` replaced by `f(n)`.
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self;
}

/// Shared settings: the same `Arc` when renaming changes nothing (the
/// model renames every state under symmetry; settings rarely change).
impl<T: RenameNodes + PartialEq> RenameNodes for std::sync::Arc<T> {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        let renamed = (**self).rename_nodes(f);
        if renamed == **self {
            self.clone()
        } else {
            std::sync::Arc::new(renamed)
        }
    }
}

impl RenameNodes for NodeId {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        f(*self)
    }
}

impl<T: RenameNodes> RenameNodes for Option<T> {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        self.as_ref().map(|x| x.rename_nodes(f))
    }
}

impl<T: RenameNodes> RenameNodes for Vec<T> {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        self.iter().map(|x| x.rename_nodes(f)).collect()
    }
}

impl<T: RenameNodes + Ord> RenameNodes for std::collections::BTreeSet<T> {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        self.iter().map(|x| x.rename_nodes(f)).collect()
    }
}

impl<K: RenameNodes + Ord, V: RenameNodes> RenameNodes for std::collections::BTreeMap<K, V> {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        self.iter()
            .map(|(k, v)| (k.rename_nodes(f), v.rename_nodes(f)))
            .collect()
    }
}

/// Implements [`RenameNodes`] as the identity for types that hold no node id.
#[macro_export]
macro_rules! no_node_ids {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::types::RenameNodes for $t {
            fn rename_nodes(&self, _: &dyn Fn($crate::types::NodeId) -> $crate::types::NodeId) -> Self {
                self.clone()
            }
        })*
    };
}

no_node_ids!(Term, LogIndex, RequestId, bool, u8, u64);

impl RenameNodes for Payload {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        match self {
            Payload::Config { request, quorum } => Payload::Config {
                request: *request,
                quorum: quorum.rename_nodes(f),
            },
            other => other.clone(),
        }
    }
}

impl RenameNodes for Entry {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        Entry {
            term: self.term,
            payload: self.payload.rename_nodes(f),
        }
    }
}
