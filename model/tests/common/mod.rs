//! Configurations the pinned tests and the engine tests share.

use kraftwerk_model::config::{ModelConfig, NetworkKind, Plan, Protocol, Reconfig};

/// `servers` servers up to `max_term`, no crash, a non-duplicating network;
/// the protocol's other defaults (figure2).
pub fn small(protocol: Protocol, servers: usize, max_term: u64) -> ModelConfig {
    ModelConfig {
        protocol,
        servers,
        max_term,
        crashes: 0,
        network: NetworkKind::UnorderedNonduplicating,
        ..ModelConfig::default_for(protocol)
    }
}

/// The membership-change defaults of `protocol` and `mode` with `servers`
/// bootstrap voters and the plan `plan`.
pub fn reconfig(protocol: Protocol, mode: Reconfig, servers: usize, plan: &str) -> ModelConfig {
    ModelConfig {
        servers,
        changes: Plan::parse(plan).expect("plan"),
        ..ModelConfig::default_reconfig(protocol, mode)
    }
}
