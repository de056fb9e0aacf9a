//! Every message any protocol sends: one enum, one struct per RPC.
//!
//! The sender is not part of a message: the transport knows it (the model's
//! envelope, the runtime's authenticated connection) and hands it to
//! [`crate::raft::Input::Receive`].
//!
//! Raft's RPCs come first, then KRaft's (KIP-595): [`KraftVote`],
//! [`KraftVoteResponse`], [`BeginQuorumEpoch`], [`EndQuorumEpoch`], [`Fetch`]
//! and [`FetchResponse`]. KRaft offsets are [`LogIndex`]es counted as "number
//! of records" (see [`crate::kraft`] for the mapping to Kafka's 0-based
//! offsets).

use crate::types::{Entry, Epoch, LogIndex, NodeId, RenameNodes, RequestId, Term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Raft RequestVote (Figure 2): a candidate asks for a vote in `term`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestVote {
    /// The candidate's term.
    pub term: Term,
    /// Index of the candidate's last log entry.
    pub last_log_index: LogIndex,
    /// Term of the candidate's last log entry.
    pub last_log_term: Term,
}

/// Raft's answer to [`RequestVote`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VoteResponse {
    /// The voter's current term, for the candidate to update itself.
    pub term: Term,
    /// True when the vote was granted.
    pub granted: bool,
}

/// Raft AppendEntries (Figure 2), also the heartbeat when `entries` is empty.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AppendEntries {
    /// The leader's term.
    pub term: Term,
    /// Index of the entry just before `entries`.
    pub prev_log_index: LogIndex,
    /// Term of the entry at `prev_log_index`.
    pub prev_log_term: Term,
    /// Entries to store (empty for a heartbeat).
    pub entries: Vec<Entry>,
    /// The leader's commit index.
    pub leader_commit: LogIndex,
}

impl AppendEntries {
    /// True when this message makes `earlier` redundant: same term and
    /// previous entry, entries that extend `earlier`'s, and a commit index
    /// no lower. A follower that gets this one needs nothing from
    /// `earlier`, so a leader that has both queued for one peer sends
    /// only this one ([`crate::node::coalesce`]).
    pub fn supersedes(&self, earlier: &AppendEntries) -> bool {
        self.term == earlier.term
            && self.prev_log_index == earlier.prev_log_index
            && self.prev_log_term == earlier.prev_log_term
            && self.entries.starts_with(&earlier.entries)
            && self.leader_commit >= earlier.leader_commit
    }
}

/// Raft's answer to [`AppendEntries`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AppendResponse {
    /// The follower's current term.
    pub term: Term,
    /// True when the follower's log matched `prev_log_index`/`prev_log_term`.
    pub success: bool,
    /// On success: the index of the last entry known to match the leader's.
    /// On failure: the follower's last log index, a hint for the leader's
    /// next index.
    pub match_index: LogIndex,
}

/// A client asks the cluster to append a command.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientRequest {
    /// De-duplicates retries: a leader that has this id in its log does not
    /// append it again.
    pub request: RequestId,
    /// The command, opaque to the protocol.
    pub data: Vec<u8>,
}

/// An administrator asks the cluster to change its voters (Raft §6,
/// KIP-853 AddRaftVoter/RemoveRaftVoter). A leader answers with a
/// [`ClientReply`] once the final configuration commits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MembershipRequest {
    /// De-duplicates retries, like a client request.
    pub request: RequestId,
    /// The changes, applied in order.
    pub changes: Vec<crate::membership::VoterChange>,
}

impl RenameNodes for MembershipRequest {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        MembershipRequest {
            request: self.request,
            changes: self.changes.rename_nodes(f),
        }
    }
}

/// A leader tells a client that its command committed at `index`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientReply {
    /// The request answered.
    pub request: RequestId,
    /// Where the command sits in the log.
    pub index: LogIndex,
    /// The term of the leader that saw it committed.
    pub term: Term,
}

/// KRaft Vote (KIP-595; KIP-996 when `pre_vote`): a candidate (or a
/// prospective candidate) asks for a vote in `epoch`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KraftVote {
    /// The candidate's epoch. A real candidate has already bumped it; a
    /// pre-vote carries the sender's current epoch unchanged.
    pub epoch: Epoch,
    /// The epoch of the candidate's last record (Kafka: `lastOffsetEpoch`).
    pub last_epoch: Epoch,
    /// The candidate's log end offset (Kafka: `lastOffset`).
    pub last_offset: LogIndex,
    /// True for a KIP-996 pre-vote, which changes no durable state.
    pub pre_vote: bool,
}

/// KRaft's answer to [`KraftVote`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KraftVoteResponse {
    /// The voter's epoch (after it moved to the request's epoch, if higher).
    pub epoch: Epoch,
    /// The leader the voter knows in `epoch`, if any.
    pub leader: Option<NodeId>,
    /// True when the vote (or pre-vote) was granted.
    pub granted: bool,
    /// Echoes the request's `pre_vote`. Kafka matches a response to its
    /// request by correlation id; without it a candidate restarted in the
    /// epoch of its own earlier pre-vote round would count pre-votes as
    /// votes.
    pub pre_vote: bool,
}

/// KRaft BeginQuorumEpoch: the sender, newly elected leader of `epoch`,
/// tells a voter to follow it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BeginQuorumEpoch {
    /// The leader's epoch.
    pub epoch: Epoch,
}

/// KRaft EndQuorumEpoch: the sender, leader of `epoch`, resigns and asks the
/// voters to elect a successor now instead of waiting for a timeout.
///
/// Kafka sends `preferredSuccessors` as one list ordered by how far each
/// voter had fetched, ties broken by id, and each follower backs off by its
/// position in it, so the first campaigns at once. Here voters that had
/// fetched equally far share a rank instead: they are equally good
/// successors, and an order among them would say only which id is lower.
/// That keeps the protocol symmetric under a renaming of the servers (the
/// model's symmetry reduction relies on it; a rank is a set, so renaming a
/// message gives what the renamed leader would have sent), and a
/// flattened ranking is still a list of the same voters, best first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EndQuorumEpoch {
    /// The resigning leader's epoch.
    pub epoch: Epoch,
    /// Voters ranked by how far they had fetched, best rank first; the
    /// voters of one rank had fetched equally far. A first rank of one
    /// voter campaigns at once; tied ones wait for their timers. Empty:
    /// every follower campaigns at once.
    #[serde(deserialize_with = "ranks_in_order")]
    pub preferred_successors: Vec<BTreeSet<NodeId>>,
}

/// Reads each rank as a set serializes, a strictly increasing sequence of
/// ids, and refuses any other order or a repeated id: such a rank would
/// decode to a set that encodes differently, and every accepted frame must
/// be the one encoding of its value (`impl/src/codec.rs`).
fn ranks_in_order<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<BTreeSet<NodeId>>, D::Error> {
    let ranks = Vec::<Vec<NodeId>>::deserialize(d)?;
    ranks
        .into_iter()
        .map(|rank| {
            if rank.windows(2).all(|w| w[0] < w[1]) {
                Ok(rank.into_iter().collect())
            } else {
                Err(serde::de::Error::custom(
                    "preferred successors of a rank not in increasing order",
                ))
            }
        })
        .collect()
}

/// KRaft Fetch: a follower or observer pulls records from the leader. The
/// fetch offset doubles as the acknowledgement of everything before it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fetch {
    /// The fetcher's log end offset: it wants the records after it.
    pub fetch_offset: LogIndex,
    /// The epoch of the fetcher's last record (0 for an empty log).
    pub last_fetched_epoch: Epoch,
    /// The epoch the fetcher is in.
    pub current_leader_epoch: Epoch,
}

/// Why a [`FetchResponse`] carries no records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FetchError {
    /// Kafka `FENCED_LEADER_EPOCH`: the fetch's epoch is older than the
    /// receiver's.
    Fenced,
    /// Kafka `NOT_LEADER_OR_FOLLOWER`: the receiver is in the fetch's epoch
    /// but does not lead it; `leader` says who does, if it knows.
    NotLeader,
}

/// Where the fetcher's log and the leader's part: the largest epoch of the
/// leader's log not above the fetcher's last fetched epoch, and where that
/// epoch ends in the leader's log. The fetcher truncates to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DivergingEpoch {
    /// The epoch.
    pub epoch: Epoch,
    /// Its end offset in the leader's log.
    pub end_offset: LogIndex,
}

/// KRaft's answer to [`Fetch`]: records, a truncation request, or an error.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FetchResponse {
    /// The responder's epoch.
    pub epoch: Epoch,
    /// The leader the responder knows in `epoch` (itself when it leads).
    pub leader: Option<NodeId>,
    /// `None` when the responder leads `epoch` and answered the fetch.
    pub error: Option<FetchError>,
    /// Echo of the request's fetch offset: `records[0]` sits at index
    /// `fetch_offset + 1` (Kafka's records carry their own base offset).
    pub fetch_offset: LogIndex,
    /// Echo of the request's last fetched epoch. With `fetch_offset` it
    /// names the log position the answer is about, so that the fetcher can
    /// drop an answer to an older position (Kafka pairs a response with its
    /// request by correlation id instead).
    pub last_fetched_epoch: Epoch,
    /// The leader's records after `fetch_offset` (at most a configured
    /// number); empty on an error or a divergence.
    pub records: Vec<Entry>,
    /// The leader's high watermark, once it knows one in its epoch (Kafka
    /// sends -1 until then). `None` with an error or a divergence, where
    /// the fetcher would not use it.
    pub high_watermark: Option<LogIndex>,
    /// Set when the fetcher's log diverges from the leader's.
    pub diverging: Option<DivergingEpoch>,
}

/// Every message of every protocol.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Message {
    /// Raft RequestVote.
    RequestVote(RequestVote),
    /// Raft RequestVote response.
    VoteResponse(VoteResponse),
    /// Raft AppendEntries.
    AppendEntries(AppendEntries),
    /// Raft AppendEntries response.
    AppendResponse(AppendResponse),
    /// Client to server.
    ClientRequest(ClientRequest),
    /// Server to client.
    ClientReply(ClientReply),
    /// KRaft Vote (or pre-vote).
    KraftVote(KraftVote),
    /// KRaft Vote response.
    KraftVoteResponse(KraftVoteResponse),
    /// KRaft BeginQuorumEpoch.
    BeginQuorumEpoch(BeginQuorumEpoch),
    /// KRaft EndQuorumEpoch.
    EndQuorumEpoch(EndQuorumEpoch),
    /// KRaft Fetch.
    Fetch(Fetch),
    /// KRaft Fetch response.
    FetchResponse(FetchResponse),
    /// Administrator to server: change the voters.
    MembershipRequest(MembershipRequest),
}

impl Message {
    /// The term (epoch) of a message between servers; `None` for client
    /// messages, which are outside the term order.
    pub fn term(&self) -> Option<Term> {
        match self {
            Message::RequestVote(m) => Some(m.term),
            Message::VoteResponse(m) => Some(m.term),
            Message::AppendEntries(m) => Some(m.term),
            Message::AppendResponse(m) => Some(m.term),
            Message::ClientRequest(_) => None,
            Message::ClientReply(_) => None,
            Message::KraftVote(m) => Some(m.epoch),
            Message::KraftVoteResponse(m) => Some(m.epoch),
            Message::BeginQuorumEpoch(m) => Some(m.epoch),
            Message::EndQuorumEpoch(m) => Some(m.epoch),
            Message::Fetch(m) => Some(m.current_leader_epoch),
            Message::FetchResponse(m) => Some(m.epoch),
            Message::MembershipRequest(_) => None,
        }
    }

    /// True for the messages of KRaft (which a Raft node ignores).
    pub fn is_kraft(&self) -> bool {
        matches!(
            self,
            Message::KraftVote(_)
                | Message::KraftVoteResponse(_)
                | Message::BeginQuorumEpoch(_)
                | Message::EndQuorumEpoch(_)
                | Message::Fetch(_)
                | Message::FetchResponse(_)
        )
    }
}

// No Raft message names a node: the sender travels beside the message. Some
// KRaft answers name a leader or successors.
crate::no_node_ids!(
    RequestVote,
    VoteResponse,
    AppendResponse,
    ClientRequest,
    ClientReply,
    KraftVote,
    BeginQuorumEpoch,
    Fetch,
    FetchError,
    DivergingEpoch,
);

impl RenameNodes for KraftVoteResponse {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        KraftVoteResponse {
            leader: self.leader.rename_nodes(f),
            ..self.clone()
        }
    }
}

impl RenameNodes for EndQuorumEpoch {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        EndQuorumEpoch {
            epoch: self.epoch,
            preferred_successors: self.preferred_successors.rename_nodes(f),
        }
    }
}

impl RenameNodes for FetchResponse {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        FetchResponse {
            leader: self.leader.rename_nodes(f),
            records: self.records.rename_nodes(f),
            ..self.clone()
        }
    }
}

impl RenameNodes for AppendEntries {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        AppendEntries {
            entries: self.entries.rename_nodes(f),
            ..self.clone()
        }
    }
}

impl RenameNodes for Message {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        match self {
            Message::KraftVoteResponse(m) => Message::KraftVoteResponse(m.rename_nodes(f)),
            Message::EndQuorumEpoch(m) => Message::EndQuorumEpoch(m.rename_nodes(f)),
            Message::FetchResponse(m) => Message::FetchResponse(m.rename_nodes(f)),
            Message::AppendEntries(m) => Message::AppendEntries(m.rename_nodes(f)),
            Message::MembershipRequest(m) => Message::MembershipRequest(m.rename_nodes(f)),
            other => other.clone(),
        }
    }
}

fn write_ids<'a>(
    f: &mut std::fmt::Formatter<'_>,
    ids: impl IntoIterator<Item = &'a NodeId>,
) -> std::fmt::Result {
    for (i, id) in ids.into_iter().enumerate() {
        if i > 0 {
            write!(f, " ")?;
        }
        write!(f, "{id}")?;
    }
    Ok(())
}

fn write_entries(f: &mut std::fmt::Formatter<'_>, entries: &[Entry]) -> std::fmt::Result {
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            write!(f, " ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl std::fmt::Display for Message {
    /// The one-line form used in traces:
    /// `AppendEntries{term 2, prev 1/1, entries [2/c0#0], commit 1}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::RequestVote(m) => write!(
                f,
                "RequestVote{{term {}, last {}/{}}}",
                m.term, m.last_log_index, m.last_log_term
            ),
            Message::VoteResponse(m) => write!(
                f,
                "VoteResponse{{term {}, {}}}",
                m.term,
                if m.granted { "granted" } else { "denied" }
            ),
            Message::AppendEntries(m) => {
                write!(
                    f,
                    "AppendEntries{{term {}, prev {}/{}, entries [",
                    m.term, m.prev_log_index, m.prev_log_term
                )?;
                write_entries(f, &m.entries)?;
                write!(f, "], commit {}}}", m.leader_commit)
            }
            Message::AppendResponse(m) => write!(
                f,
                "AppendResponse{{term {}, {}, match {}}}",
                m.term,
                if m.success { "ok" } else { "reject" },
                m.match_index
            ),
            Message::ClientRequest(m) => write!(f, "ClientRequest{{{}}}", m.request),
            Message::MembershipRequest(m) => {
                let changes: Vec<String> = m.changes.iter().map(|c| c.to_string()).collect();
                write!(
                    f,
                    "MembershipRequest{{{} {}}}",
                    m.request,
                    changes.join(" ")
                )
            }
            Message::ClientReply(m) => write!(
                f,
                "ClientReply{{{}, index {}, term {}}}",
                m.request, m.index, m.term
            ),
            Message::KraftVote(m) => write!(
                f,
                "{}{{epoch {}, last epoch {} offset {}}}",
                if m.pre_vote { "PreVote" } else { "Vote" },
                m.epoch,
                m.last_epoch,
                m.last_offset
            ),
            Message::KraftVoteResponse(m) => {
                write!(
                    f,
                    "{}Response{{epoch {}, {}",
                    if m.pre_vote { "PreVote" } else { "Vote" },
                    m.epoch,
                    if m.granted { "granted" } else { "denied" }
                )?;
                if let Some(l) = m.leader {
                    write!(f, ", leader {l}")?;
                }
                write!(f, "}}")
            }
            Message::BeginQuorumEpoch(m) => write!(f, "BeginQuorumEpoch{{epoch {}}}", m.epoch),
            Message::EndQuorumEpoch(m) => {
                // Ranks apart by commas, tied voters by spaces.
                write!(f, "EndQuorumEpoch{{epoch {}, successors [", m.epoch)?;
                for (i, rank) in m.preferred_successors.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write_ids(f, rank)?;
                }
                write!(f, "]}}")
            }
            Message::Fetch(m) => write!(
                f,
                "Fetch{{offset {}, last epoch {}, epoch {}}}",
                m.fetch_offset, m.last_fetched_epoch, m.current_leader_epoch
            ),
            Message::FetchResponse(m) => {
                write!(f, "FetchResponse{{epoch {}", m.epoch)?;
                if let Some(l) = m.leader {
                    write!(f, ", leader {l}")?;
                }
                match (m.error, m.diverging) {
                    (Some(FetchError::Fenced), _) => write!(f, ", FENCED")?,
                    (Some(FetchError::NotLeader), _) => write!(f, ", NOT_LEADER")?,
                    (None, Some(d)) => write!(
                        f,
                        ", offset {}, diverging epoch {} end {}",
                        m.fetch_offset, d.epoch, d.end_offset
                    )?,
                    (None, None) => {
                        write!(f, ", offset {}, records [", m.fetch_offset)?;
                        write_entries(f, &m.records)?;
                        write!(f, "]")?;
                        if let Some(h) = m.high_watermark {
                            write!(f, ", hwm {h}")?;
                        }
                    }
                }
                write!(f, "}}")
            }
        }
    }
}
