//! A model configuration: which protocol, how many servers, and the bounds
//! that make the state space finite. Every bound is explicit and enforced by
//! `within_boundary`, never by search depth.

use kraftwerk_specs::bugs::Bug;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// The protocol under check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Raft, push-based (AppendEntries).
    Raft,
    /// KRaft, pull-based (Fetch).
    Kraft,
}

/// How the model's network treats messages (stateright's three networks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// Any order; a sent message stays deliverable forever (duplicates).
    UnorderedDuplicating,
    /// Any order; each sent message is delivered at most once.
    UnorderedNonduplicating,
    /// FIFO per (sender, receiver) pair, each message at most once.
    Ordered,
}

impl NetworkKind {
    /// Every accepted `--network` value.
    pub const NAMES: &'static [&'static str] = &[
        "unordered-duplicating",
        "unordered-nonduplicating",
        "ordered",
    ];

    /// Parses a `--network` value.
    pub fn parse(s: &str) -> Result<NetworkKind, String> {
        match s {
            "unordered-duplicating" => Ok(NetworkKind::UnorderedDuplicating),
            "unordered-nonduplicating" => Ok(NetworkKind::UnorderedNonduplicating),
            "ordered" => Ok(NetworkKind::Ordered),
            _ => Err(format!(
                "unknown network '{s}' (expected one of: {})",
                NetworkKind::NAMES.join(", ")
            )),
        }
    }

    /// The `--network` spelling.
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::UnorderedDuplicating => "unordered-duplicating",
            NetworkKind::UnorderedNonduplicating => "unordered-nonduplicating",
            NetworkKind::Ordered => "ordered",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Raft => "raft",
            Protocol::Kraft => "kraft",
        })
    }
}

/// One model configuration and its bounds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// The protocol.
    pub protocol: Protocol,
    /// Number of servers (voters), 1 to 7.
    pub servers: usize,
    /// No server's term (epoch) exceeds this.
    pub max_term: u64,
    /// Client requests, each proposed once (and retried by duplication).
    pub values: usize,
    /// Total crashes (each followed by an optional recovery) over a run.
    pub crashes: usize,
    /// The network semantics.
    pub network: NetworkKind,
    /// Whether the network may also drop messages.
    pub lossy: bool,
    /// KRaft only: servers that fetch but never vote, after the voters.
    pub observers: usize,
    /// KRaft only: KIP-996 pre-vote.
    pub pre_vote: bool,
    /// KRaft only: a leader resigns without fetches from a majority.
    pub check_quorum: bool,
    /// Catalogued bugs switched on.
    pub bugs: BTreeSet<Bug>,
}

impl ModelConfig {
    /// The default Raft configuration checked by a bare `kraftwerk check`.
    ///
    /// 3 servers, one term, one client request, one crash (and recovery),
    /// and an unordered duplicating network, which reorders, duplicates and
    /// — since a message may never be delivered — loses messages. It is the
    /// largest Raft configuration that stateright exhausts in well under a
    /// minute on 2 cores (386 thousand states); a second term multiplies
    /// the state space past what a minute can hold, so the two-term checks
    /// are run with `--max-term 2` (see the README for their cost).
    pub fn default_raft() -> ModelConfig {
        ModelConfig {
            protocol: Protocol::Raft,
            servers: 3,
            max_term: 1,
            values: 1,
            crashes: 1,
            network: NetworkKind::UnorderedDuplicating,
            lossy: false,
            observers: 0,
            pre_vote: false,
            check_quorum: false,
            bugs: BTreeSet::new(),
        }
    }

    /// The default KRaft configuration: 3 voters, one epoch, no client
    /// request (the leader-change record is the entry that commits), no
    /// crash, an unordered non-duplicating network. KRaft's pull protocol
    /// (fetch timers, BeginQuorumEpoch resends) has far more interleavings
    /// per epoch than Raft: this is what exhausts in under half a minute.
    pub fn default_kraft() -> ModelConfig {
        ModelConfig {
            protocol: Protocol::Kraft,
            values: 0,
            crashes: 0,
            network: NetworkKind::UnorderedNonduplicating,
            ..ModelConfig::default_raft()
        }
    }

    /// The defaults of `protocol`.
    pub fn default_for(protocol: Protocol) -> ModelConfig {
        match protocol {
            Protocol::Raft => ModelConfig::default_raft(),
            Protocol::Kraft => ModelConfig::default_kraft(),
        }
    }

    /// Servers plus observers: the number of server actors.
    pub fn nodes(&self) -> usize {
        self.servers + self.observers
    }

    /// Rejects configurations that make no sense or cannot be checked.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=7).contains(&self.servers) {
            return Err(format!(
                "--servers must be between 1 and 7 (got {})",
                self.servers
            ));
        }
        if self.max_term == 0 {
            return Err("--max-term must be at least 1 (no election can happen in term 0)".into());
        }
        if self.max_term > 20 {
            return Err(format!(
                "--max-term must be at most 20 (got {})",
                self.max_term
            ));
        }
        if self.values > 8 {
            return Err(format!("--values must be at most 8 (got {})", self.values));
        }
        if self.protocol == Protocol::Raft
            && (self.observers > 0 || self.pre_vote || self.check_quorum)
        {
            return Err("--observers, --pre-vote and --check-quorum are KRaft options".into());
        }
        if self.observers > 3 {
            return Err(format!(
                "--observers must be at most 3 (got {})",
                self.observers
            ));
        }
        if self.crashes > self.servers {
            return Err(format!(
                "--crashes must be at most --servers ({}) (got {})",
                self.servers, self.crashes
            ));
        }
        Ok(())
    }

    /// A one-line description: `raft servers=3 max-term=2 ...`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} servers={} max-term={} values={} crashes={} network={}{}",
            self.protocol,
            self.servers,
            self.max_term,
            self.values,
            self.crashes,
            self.network.name(),
            if self.lossy { " lossy" } else { "" },
        );
        if self.observers > 0 {
            s.push_str(&format!(" observers={}", self.observers));
        }
        if self.pre_vote {
            s.push_str(" pre-vote");
        }
        if self.check_quorum {
            s.push_str(" check-quorum");
        }
        for b in &self.bugs {
            s.push_str(&format!(" bug={}", b.info().name));
        }
        s
    }
}
