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
}

/// What the catalogue says about one bug.
#[derive(Clone, Copy, Debug)]
pub struct BugInfo {
    /// The switch.
    pub bug: Bug,
    /// Its command-line name.
    pub name: &'static str,
    /// The protocol it lives in (`raft` or `kraft`).
    pub protocol: &'static str,
    /// The property expected to break.
    pub breaks: &'static str,
    /// One paragraph: what goes wrong.
    pub description: &'static str,
    /// Where the bug is described.
    pub source: &'static str,
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
    },
    BugInfo {
        bug: Bug::VoteWithoutLogCheck,
        name: "vote-without-log-check",
        protocol: "raft",
        breaks: "leader-completeness",
        description: "A server grants its vote without checking that the candidate's log is at \
            least as up to date as its own, so a candidate missing committed entries can win.",
        source: "Raft paper, section 5.4.1 (election restriction)",
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
    },
    BugInfo {
        bug: Bug::KraftIgnoreDivergingEpoch,
        name: "kraft-ignore-diverging-epoch",
        protocol: "kraft",
        breaks: "log-matching",
        description: "The fetch's last fetched epoch is not validated against the leader's log: \
            the leader answers with the records after the fetch offset instead of a \
            DivergingEpoch, so a follower never truncates its uncommitted suffix from a failed \
            leader and appends the new leader's records on top of it. Two logs then hold the \
            same record at the same offset after different prefixes.",
        source: "KIP-595 (Fetch: DivergingEpoch and follower truncation); apache/kafka \
            raft/KafkaRaftClient.java tryCompleteFetchRequest (validateOffsetAndEpoch) and \
            handleFetchResponse (truncateToEndOffset)",
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
