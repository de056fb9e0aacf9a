//! # kraftwerk-impl
//!
//! A real Kraftwerk cluster: the `specs` cores (Raft or KRaft) driven over
//! TCP with durable storage, serving a key-value store.
//!
//! - [`codec`]: length-prefixed bincode frames with version and cluster id;
//! - [`storage`]: the checksummed log file and the atomic hard-state file;
//! - [`kv`]: the key-value state machine;
//! - [`core`]: the node of either protocol in its production
//!   configuration;
//! - [`server`]: the tokio runtime of one node (group commit);
//! - [`transport`]: peer connections and the listeners;
//! - [`proto`] and [`client`]: the client protocol and library;
//! - [`tls`]: optional TLS 1.3 on both ports (mutually authenticated
//!   peers, server-authenticated clients, client certificates optional).
//!
//! Membership change: `kraftwerk-node reconfig` (joint consensus).
#![deny(missing_docs)]

pub mod client;
pub mod codec;
pub mod core;
pub mod kv;
pub mod proto;
pub mod server;
pub mod storage;
pub mod tls;
pub mod transport;

/// A clap error as one line: its first paragraph, whitespace collapsed,
/// without clap's own `error: ` prefix (for `PROGRAM: error: LINE`).
pub fn usage_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text
        .trim_start()
        .split("\n\n")
        .next()
        .unwrap_or("bad usage")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    line.trim_start_matches("error: ").to_string()
}
