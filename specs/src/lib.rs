//! # kraftwerk-specs
//!
//! The protocol cores of Kraftwerk as pure state machines: no IO, no clock,
//! no randomness and no model checker. A driver feeds [`raft::Input`]s to
//! [`raft::Node::step`] and carries out the [`raft::Action`]s it returns, in
//! order. The stateright model (`kraftwerk-model`) and the real runtime
//! drive this same code.
//!
//! - [`types`]: node ids, terms/epochs, indexes, entries;
//! - [`log`]: the replicated log;
//! - [`message`]: every message, one struct per RPC;
//! - [`quorum`]: majority and joint-majority maths;
//! - [`membership`]: configurations and their transitions;
//! - [`raft`]: the Raft node;
//! - [`kraft`]: the KRaft node (KIP-595, KIP-996 pre-vote), on Raft's
//!   `Input`/`Action` vocabulary;
//! - [`invariants`]: the safety properties, one file each;
//! - [`bugs`]: the catalogue of re-introducible protocol bugs.
#![deny(missing_docs)]

pub mod bugs;
pub mod invariants;
pub mod kraft;
pub mod log;
pub mod membership;
pub mod message;
pub mod quorum;
pub mod raft;
pub mod types;
