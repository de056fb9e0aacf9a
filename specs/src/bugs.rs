//! The bug catalogue: switches that re-introduce known protocol bugs, so that
//! every safety property can be shown to catch something real.
//!
//! A bug is enabled through [`crate::raft::Config::bugs`] or
//! [`crate::kraft::Config::bugs`]; the protocol code tests `cfg.has(Bug::X)`
//! at the one place where the bug lives. What the catalogue holds is
//! protocol knowledge: what goes wrong, where it is described, which
//! protocols it lives in and which property it breaks. How a model checker
//! finds it (its bounds) and how a command line spells it belong to the
//! driver (`kraftwerk-model`'s `bugs` module).

use crate::invariants::{self, Property, BOTH, KRAFT, RAFT};
use crate::protocol::ProtocolKind;
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
    /// The protocols it lives in; the first is the one a driver picks when
    /// told nothing else.
    pub protocols: &'static [ProtocolKind],
    /// The safety property expected to break.
    pub breaks: &'static Property,
    /// One paragraph: what goes wrong.
    pub description: &'static str,
    /// Where the bug is described.
    pub source: &'static str,
}

/// The whole catalogue, in the order `kraftwerk bugs` lists it.
pub const CATALOGUE: &[BugInfo] = &[
    BugInfo {
        bug: Bug::CommitPreviousTerm,
        protocols: RAFT,
        breaks: &invariants::state_machine_safety::PROPERTY,
        description: "A leader advances its commit index over an entry of an earlier term as soon \
            as a majority holds it. A later leader that never had the entry can still be elected \
            and overwrite it, so an entry that was applied (and acknowledged) is lost.",
        source: "Raft paper (Ongaro & Ousterhout 2014), section 5.4.2 and Figure 8",
    },
    BugInfo {
        bug: Bug::VoteWithoutLogCheck,
        protocols: RAFT,
        breaks: &invariants::leader_completeness::PROPERTY,
        description: "A server grants its vote without checking that the candidate's log is at \
            least as up to date as its own, so a candidate missing committed entries can win.",
        source: "Raft paper, section 5.4.1 (election restriction)",
    },
    BugInfo {
        bug: Bug::UnpersistedVote,
        protocols: RAFT,
        breaks: &invariants::election_safety::PROPERTY,
        description: "A server replies to RequestVote before its vote reaches stable storage. \
            After a crash it has forgotten the vote and votes again in the same term, so two \
            candidates can both win it.",
        source: "Raft paper, Figure 2 (persistent state updated before responding to RPCs)",
    },
    BugInfo {
        bug: Bug::NoTruncateOnConflict,
        protocols: RAFT,
        breaks: &invariants::log_matching::PROPERTY,
        description: "A follower writes the leader's entries over its log without deleting the \
            conflicting suffix after them, so two logs can agree on an entry's term while \
            disagreeing on what precedes or follows it.",
        source: "Raft paper, Figure 2, AppendEntries receiver step 3",
    },
    BugInfo {
        bug: Bug::KraftHwmBeforeEpochStart,
        protocols: KRAFT,
        breaks: &invariants::monotonic_high_watermark::PROPERTY,
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
        protocols: KRAFT,
        breaks: &invariants::majority_reached_hwm::PROPERTY,
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
    },
    BugInfo {
        bug: Bug::SingleChangeWithoutTermCommit,
        protocols: BOTH,
        breaks: &invariants::leader_completeness::PROPERTY,
        description: "One-server membership change without Ongaro's fix: a new leader appends a \
            configuration before any entry of its own term is committed. A leader of an earlier \
            term may have appended a different, uncommitted change; the two new configurations \
            need not share a majority, so each side can commit (or elect) without the other and \
            a committed entry is lost.",
        source: "Diego Ongaro, \"bug in single-server membership changes\", raft-dev mailing \
            list, July 2015; Raft dissertation section 4.1 (errata)",
    },
    BugInfo {
        bug: Bug::JointSkipOldMajority,
        protocols: BOTH,
        breaks: &invariants::one_uncommitted_config::PROPERTY,
        description: "In the joint configuration C_old,new a leader counts only the majority of \
            C_new, for votes and for commitment. C_old,new then commits without C_old's \
            majority and C_new follows it while a majority of C_old may never have seen the \
            change, so C_old alone can still elect a leader next to C_new's: joint consensus is \
            reduced to the unsafe direct switch it exists to prevent.",
        source: "Raft paper (Ongaro & Ousterhout 2014), section 6 and Figure 11",
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::{by_name, Expectation};

    #[test]
    fn every_bug_breaks_a_registered_safety_property_of_its_protocols() {
        for b in CATALOGUE {
            let p = by_name(b.breaks.name).expect("registered");
            assert_eq!(p.expectation, Expectation::Always, "{:?}", b.bug);
            assert!(
                b.protocols.iter().all(|k| p.protocols.contains(k)),
                "{:?}",
                b.bug
            );
            assert!(!b.protocols.is_empty() && b.bug.info().bug == b.bug);
        }
    }
}
