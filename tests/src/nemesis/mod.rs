//! A Jepsen-style fault harness for real `kraftwerk-node` clusters.

pub mod rng;
