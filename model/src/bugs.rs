//! How the checker finds each catalogued bug: its command-line name and the
//! model bounds at which `kraftwerk check --bug NAME` finds the
//! counterexample. The bug itself (the switch, what goes wrong, where it is
//! described, the protocols it lives in and the property it breaks) is
//! `kraftwerk_specs::bugs`'; this module adds what only a model checker
//! needs, keyed by the [`Bug`] variant, so a bug added to the specs does not
//! compile here until it has a name and bounds.

use crate::config::{NetworkKind, Reconfig};
use kraftwerk_specs::bugs::{Bug, BugInfo, CATALOGUE};

/// Model bounds (and search strategy) of a catalogued bug's counterexample:
/// the defaults of `kraftwerk check --bug NAME`. Explicit flags override
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Number of servers (voters).
    pub servers: usize,
    /// Highest term (epoch).
    pub max_term: u64,
    /// Client requests.
    pub values: usize,
    /// Total crashes.
    pub crashes: usize,
    /// The network.
    pub network: NetworkKind,
    /// The `--strategy`: `bfs` (shortest trace), `dfs`, or `simulation`
    /// (seeded random walks, seed 0: deterministic, for counterexamples
    /// deeper than an exhaustive search reaches).
    pub strategy: &'static str,
    /// Length of the counterexample `check --bug NAME` finds at these
    /// bounds, or `None` when it finds none within a minute on two cores:
    /// the bug's shortest counterexample is deeper than breadth-first
    /// search reaches in that time (the bounds are then the smallest at
    /// which the counterexample exists at all).
    pub trace_steps: Option<usize>,
    /// Membership change.
    pub reconfig: Reconfig,
    /// Whether the leader's heartbeat timer fires (`--heartbeats`).
    pub heartbeats: bool,
    /// The `--changes` spelling: the membership changes an administrator
    /// requests (empty: the model's default plan).
    pub changes: &'static str,
}

/// What most bugs need: three servers, one term, one request, no crash, a
/// network that delivers each message at most once, breadth-first search.
const SMALL: Bounds = Bounds {
    servers: 3,
    max_term: 1,
    values: 1,
    crashes: 0,
    network: NetworkKind::UnorderedNonduplicating,
    strategy: "bfs",
    trace_steps: None,
    reconfig: Reconfig::None,
    heartbeats: true,
    changes: "",
};

impl Bounds {
    /// The same bounds as `kraftwerk check` flags.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--servers".into(),
            self.servers.to_string(),
            "--max-term".into(),
            self.max_term.to_string(),
            "--values".into(),
            self.values.to_string(),
            "--crashes".into(),
            self.crashes.to_string(),
            "--network".into(),
            self.network.name().to_string(),
            "--strategy".into(),
            self.strategy.to_string(),
            "--reconfig".into(),
            self.reconfig.name().to_string(),
            "--heartbeats".into(),
            if self.heartbeats { "on" } else { "off" }.into(),
            // Where the bounds were found (the default under --bug, spelled
            // out for a run without the bug).
            "--config".into(),
            "figure2".into(),
        ]
        .into_iter()
        // `--changes=PLAN`: a plan may start with `-`, which a
        // separate argument would make look like a flag.
        .chain((!self.changes.is_empty()).then(|| format!("--changes={}", self.changes)))
        .collect()
    }
}

impl std::fmt::Display for Bounds {
    /// `servers=3 max-term=1 values=1 crashes=1 network=... strategy=bfs`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "servers={} max-term={} values={} crashes={} network={} strategy={} reconfig={}",
            self.servers,
            self.max_term,
            self.values,
            self.crashes,
            self.network.name(),
            self.strategy,
            self.reconfig.name()
        )?;
        if !self.changes.is_empty() {
            write!(f, " changes={}", self.changes)?;
        }
        if !self.heartbeats {
            write!(f, " heartbeats=off")?;
        }
        Ok(())
    }
}

/// A catalogued bug as the checker knows it.
#[derive(Clone, Copy, Debug)]
pub struct Checked {
    /// What the specs' catalogue says about it.
    pub info: &'static BugInfo,
    /// Its command-line name (`--bug NAME`).
    pub name: &'static str,
    /// The bounds of its counterexample.
    pub bounds: Bounds,
}

impl Checked {
    /// The `protocol` column of `kraftwerk bugs`: `raft`, `kraft` or
    /// `raft,kraft` (the first is the default of `check --bug`).
    pub fn protocols(&self) -> String {
        let names: Vec<_> = self.info.protocols.iter().map(|k| k.name()).collect();
        names.join(",")
    }
}

/// The command-line name and counterexample bounds of `bug`.
fn spelling(bug: Bug) -> (&'static str, Bounds) {
    match bug {
        Bug::CommitPreviousTerm => (
            "commit-previous-term",
            Bounds {
                max_term: 4,
                values: 2,
                strategy: "simulation",
                trace_steps: Some(49),
                ..SMALL
            },
        ),
        Bug::VoteWithoutLogCheck => (
            "vote-without-log-check",
            Bounds {
                max_term: 2,
                trace_steps: Some(9),
                ..SMALL
            },
        ),
        Bug::UnpersistedVote => (
            "unpersisted-vote",
            Bounds {
                crashes: 1,
                trace_steps: Some(8),
                ..SMALL
            },
        ),
        Bug::NoTruncateOnConflict => (
            "no-truncate-on-conflict",
            Bounds {
                servers: 5,
                max_term: 2,
                values: 2,
                strategy: "simulation",
                trace_steps: Some(27),
                heartbeats: false,
                ..SMALL
            },
        ),
        Bug::KraftHwmBeforeEpochStart => (
            "kraft-hwm-before-epoch-start",
            Bounds {
                max_term: 2,
                strategy: "simulation",
                trace_steps: Some(23),
                heartbeats: false,
                ..SMALL
            },
        ),
        Bug::KraftIgnoreDivergingEpoch => (
            "kraft-ignore-diverging-epoch",
            Bounds {
                max_term: 2,
                trace_steps: Some(8),
                ..SMALL
            },
        ),
        Bug::SingleChangeWithoutTermCommit => (
            "single-change-without-term-commit",
            Bounds {
                servers: 4,
                max_term: 3,
                values: 0,
                strategy: "simulation",
                trace_steps: Some(31),
                reconfig: Reconfig::Single,
                heartbeats: false,
                changes: "-3|-2",
                ..SMALL
            },
        ),
        Bug::JointSkipOldMajority => (
            "joint-skip-old-majority",
            Bounds {
                servers: 2,
                values: 0,
                trace_steps: Some(9),
                reconfig: Reconfig::Joint,
                heartbeats: false,
                changes: "+2+3-1",
                ..SMALL
            },
        ),
    }
}

/// `bug` as the checker knows it.
pub fn checked(bug: Bug) -> Checked {
    let (name, bounds) = spelling(bug);
    Checked {
        info: bug.info(),
        name,
        bounds,
    }
}

/// The command-line name of `bug`.
pub fn name(bug: Bug) -> &'static str {
    spelling(bug).0
}

/// The whole catalogue, in the specs' order (the order `kraftwerk bugs`
/// lists it in).
pub fn catalogue() -> impl Iterator<Item = Checked> {
    CATALOGUE.iter().map(|b| checked(b.bug))
}

/// Looks a bug up by its command-line name.
pub fn from_name(name: &str) -> Option<Bug> {
    catalogue().find(|c| c.name == name).map(|c| c.info.bug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_again() {
        for c in catalogue() {
            assert_eq!(from_name(c.name), Some(c.info.bug));
        }
    }
}
