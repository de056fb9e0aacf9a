//! The bug catalogue: switches that re-introduce known protocol bugs, so that
//! every safety property can be shown to catch something real.
//!
//! A bug is enabled through [`crate::raft::Config::bugs`] or
//! [`crate::kraft::Config::bugs`]; the protocol code tests `cfg.has(Bug::X)`
//! at the one place where the bug lives.

use serde::{Deserialize, Serialize};

/// One catalogued protocol bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Bug {
    /// A leader commits an entry of an earlier term by counting replicas.
    CommitPreviousTerm,
    /// A vote is granted without the up-to-date log check.
    VoteWithoutLogCheck,
    /// The vote is not persisted before the reply.
    UnpersistedVote,
    /// A follower appends without removing a conflicting suffix.
    NoTruncateOnConflict,
    /// KRaft: a leader advances the high watermark before its epoch's
    /// leader-change record is on a majority.
    KraftHwmBeforeEpochStart,
    /// KRaft: a leader serves records without the divergence check, so no
    /// follower ever truncates.
    KraftIgnoreDivergingEpoch,
    /// One-server change: a leader appends a configuration before it has
    /// committed an entry of its own term.
    SingleChangeWithoutTermCommit,
    /// Joint consensus: a decision in C_old,new counts only C_new's
    /// majority.
    JointSkipOldMajority,
}

/// What the catalogue says about one bug.
#[derive(Clone, Copy, Debug)]
pub struct BugInfo {
    /// The switch.
    pub bug: Bug,
    /// Its command-line name.
    pub name: &'static str,
    /// The protocols it lives in (`raft`, `kraft`, or `raft,kraft`; the
    /// first is the default of `check --bug`).
    pub protocol: &'static str,
    /// The property expected to break.
    pub breaks: &'static str,
    /// One paragraph: what goes wrong.
    pub description: &'static str,
    /// Where the bug is described.
    pub source: &'static str,
    /// The model bounds at which `kraftwerk check --bug NAME` finds the
    /// counterexample; they are that command's defaults.
    pub bounds: Bounds,
}

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
    /// The `--network` spelling.
    pub network: &'static str,
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
    /// The `--reconfig` spelling (`none`, `joint` or `single`).
    pub reconfig: &'static str,
    /// Whether the leader's heartbeat timer fires (`--heartbeats`).
    pub heartbeats: bool,
    /// The `--changes` spelling: the membership changes an administrator
    /// requests (empty: the model's default plan).
    pub changes: &'static str,
}

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
            self.network.to_string(),
            "--strategy".into(),
            self.strategy.to_string(),
            "--reconfig".into(),
            self.reconfig.to_string(),
            "--heartbeats".into(),
            if self.heartbeats { "on" } else { "off" }.into(),
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
            self.network,
            self.strategy,
            self.reconfig
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

/// The whole catalogue, in the order `kraftwerk bugs` lists it.
pub const CATALOGUE: &[BugInfo] = &[
    BugInfo {
        bug: Bug::CommitPreviousTerm,
        name: "commit-previous-term",
        protocol: "raft",
        breaks: "state-machine-safety",
        description: "A leader advances its commit index over an entry of an earlier term as soon \
            as a majority holds it. A later leader that never had the entry can still be elected \
            and overwrite it, so an entry that was applied (and acknowledged) is lost.",
        source: "Raft paper (Ongaro & Ousterhout 2014), section 5.4.2 and Figure 8",
        bounds: Bounds {
            servers: 3,
            max_term: 4,
            values: 2,
            crashes: 0,
            network: "unordered-nonduplicating",
            strategy: "simulation",
            trace_steps: Some(49),
            reconfig: "none",
            heartbeats: true,
            changes: "",
        },
    },
    BugInfo {
        bug: Bug::VoteWithoutLogCheck,
        name: "vote-without-log-check",
        protocol: "raft",
        breaks: "leader-completeness",
        description: "A server grants its vote without checking that the candidate's log is at \
            least as up to date as its own, so a candidate missing committed entries can win.",
        source: "Raft paper, section 5.4.1 (election restriction)",
        bounds: Bounds {
            servers: 3,
            max_term: 2,
            values: 1,
            crashes: 0,
            network: "unordered-nonduplicating",
            strategy: "bfs",
            trace_steps: Some(9),
            reconfig: "none",
            heartbeats: true,
            changes: "",
        },
    },
    BugInfo {
        bug: Bug::UnpersistedVote,
        name: "unpersisted-vote",
        protocol: "raft",
        breaks: "election-safety",
        description: "A server replies to RequestVote before its vote reaches stable storage. \
            After a crash it has forgotten the vote and votes again in the same term, so two \
            candidates can both win it.",
        source: "Raft paper, Figure 2 (persistent state updated before responding to RPCs)",
        bounds: Bounds {
            servers: 3,
            max_term: 1,
            values: 1,
            crashes: 1,
            network: "unordered-nonduplicating",
            strategy: "bfs",
            trace_steps: Some(8),
            reconfig: "none",
            heartbeats: true,
            changes: "",
        },
    },
    BugInfo {
        bug: Bug::NoTruncateOnConflict,
        name: "no-truncate-on-conflict",
        protocol: "raft",
        breaks: "log-matching",
        description: "A follower writes the leader's entries over its log without deleting the \
            conflicting suffix after them, so two logs can agree on an entry's term while \
            disagreeing on what precedes or follows it.",
        source: "Raft paper, Figure 2, AppendEntries receiver step 3",
        bounds: Bounds {
            servers: 5,
            max_term: 2,
            values: 2,
            crashes: 0,
            network: "unordered-nonduplicating",
            strategy: "simulation",
            trace_steps: Some(27),
            reconfig: "none",
            heartbeats: false,
            changes: "",
        },
    },
    BugInfo {
        bug: Bug::KraftHwmBeforeEpochStart,
        name: "kraft-hwm-before-epoch-start",
        protocol: "kraft",
        breaks: "monotonic-high-watermark",
        description: "A new leader advances its high watermark to the offset a majority of \
            voters has fetched even when that offset is not past its epoch start offset, i.e. \
            before the leader-change record of its own epoch is committed. It can then expose a \
            high watermark below one its predecessor exposed, and, as in Raft's Figure 8, count \
            as committed records of an earlier epoch that a later leader overwrites \
            (state-machine-safety).",
        source: "KIP-595 (high watermark after a leader change); apache/kafka \
            raft/LeaderState.java maybeUpdateHighWatermark, the check against epochStartOffset",
        bounds: Bounds {
            servers: 3,
            max_term: 2,
            values: 1,
            crashes: 0,
            network: "unordered-nonduplicating",
            strategy: "simulation",
            trace_steps: Some(23),
            reconfig: "none",
            heartbeats: false,
            changes: "",
        },
    },
    BugInfo {
        bug: Bug::KraftIgnoreDivergingEpoch,
        name: "kraft-ignore-diverging-epoch",
        protocol: "kraft",
        breaks: "majority-reached-high-watermark",
        description: "The fetch's last fetched epoch is not validated against the leader's log: \
            the leader answers with the records after the fetch offset instead of a \
            DivergingEpoch, so a follower never truncates its uncommitted suffix from a failed \
            leader and appends the new leader's records on top of it. Two logs then hold the \
            same record at the same offset after different prefixes (log-matching). The model \
            catches it one step earlier: the leader takes a fetch from a diverged follower as \
            proof that the follower holds its records up to the fetch offset and advances the \
            high watermark over a record only it holds (majority-reached-high-watermark).",
        source: "KIP-595 (Fetch: DivergingEpoch and follower truncation); apache/kafka \
            raft/KafkaRaftClient.java tryCompleteFetchRequest (validateOffsetAndEpoch) and \
            handleFetchResponse (truncateToEndOffset)",
        bounds: Bounds {
            servers: 3,
            max_term: 2,
            values: 1,
            crashes: 0,
            network: "unordered-nonduplicating",
            strategy: "bfs",
            trace_steps: Some(8),
            reconfig: "none",
            heartbeats: true,
            changes: "",
        },
    },
    BugInfo {
        bug: Bug::SingleChangeWithoutTermCommit,
        name: "single-change-without-term-commit",
        protocol: "raft,kraft",
        breaks: "leader-completeness",
        description: "One-server membership change without Ongaro's fix: a new leader appends a \
            configuration before any entry of its own term is committed. A leader of an earlier \
            term may have appended a different, uncommitted change; the two new configurations \
            need not share a majority, so each side can commit (or elect) without the other and \
            a committed entry is lost.",
        source: "Diego Ongaro, \"bug in single-server membership changes\", raft-dev mailing \
            list, July 2015; Raft dissertation section 4.1 (errata)",
        bounds: Bounds {
            servers: 4,
            max_term: 3,
            values: 0,
            crashes: 0,
            network: "unordered-nonduplicating",
            strategy: "simulation",
            trace_steps: Some(31),
            reconfig: "single",
            heartbeats: false,
            changes: "-3|-2",
        },
    },
    BugInfo {
        bug: Bug::JointSkipOldMajority,
        name: "joint-skip-old-majority",
        protocol: "raft,kraft",
        breaks: "one-uncommitted-config",
        description: "In the joint configuration C_old,new a leader counts only the majority of \
            C_new, for votes and for commitment. C_old,new then commits without C_old's \
            majority and C_new follows it while a majority of C_old may never have seen the \
            change, so C_old alone can still elect a leader next to C_new's: joint consensus is \
            reduced to the unsafe direct switch it exists to prevent.",
        source: "Raft paper (Ongaro & Ousterhout 2014), section 6 and Figure 11",
        bounds: Bounds {
            servers: 2,
            max_term: 1,
            values: 0,
            crashes: 0,
            network: "unordered-nonduplicating",
            strategy: "bfs",
            trace_steps: Some(9),
            reconfig: "joint",
            heartbeats: false,
            changes: "+2+3-1",
        },
    },
];

impl Bug {
    /// The catalogue entry of this bug.
    pub fn info(self) -> &'static BugInfo {
        CATALOGUE
            .iter()
            .find(|b| b.bug == self)
            .expect("every bug is catalogued")
    }

    /// Looks a bug up by its command-line name.
    pub fn from_name(name: &str) -> Option<Bug> {
        CATALOGUE.iter().find(|b| b.name == name).map(|b| b.bug)
    }
}
