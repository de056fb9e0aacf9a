//! # kraftwerk-specs
//!
//! The protocol cores of Kraftwerk as pure state machines: no IO, no clock,
//! no randomness and no model checker. A driver feeds [`node::Input`]s to a
//! [`protocol::Protocol`]'s `step` and carries out the [`node::Action`]s it
//! returns, in order. The stateright model (`kraftwerk-model`) and the real
//! runtime drive this same code, in the same configuration
//! ([`protocol::AnyConfig::production`]).
//!
//! - [`node`]: the protocol-neutral vocabulary (inputs, actions, timers,
//!   hard state) and the one rule for what persistence does to the disk;
//! - [`protocol`]: the [`protocol::Protocol`] trait both cores implement,
//!   and [`protocol::AnyNode`] for drivers that pick one at run time;
//! - [`types`]: node ids, terms/epochs, indexes, entries;
//! - [`log`]: the replicated log;
//! - [`message`]: every message, one struct per RPC;
//! - [`quorum`]: majority and joint-majority maths;
//! - [`membership`]: configurations and their transitions;
//! - [`raft`]: the Raft node;
//! - [`kraft`]: the KRaft node (KIP-595, KIP-996 pre-vote);
//! - [`invariants`]: the safety properties, one file each;
//! - [`bugs`]: the catalogue of re-introducible protocol bugs.
#![deny(missing_docs)]

pub mod bugs;
#[cfg(test)]
mod fixtures;
pub mod invariants;
pub mod kraft;
pub mod log;
pub mod membership;
pub mod message;
pub mod node;
pub mod protocol;
pub mod quorum;
pub mod raft;
pub mod replica;
pub mod types;
