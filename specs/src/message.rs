//! Every message any protocol sends: one enum, one struct per RPC.
//!
//! The sender is not part of a message: the transport knows it (the model's
//! envelope, the runtime's authenticated connection) and hands it to
//! [`crate::raft::Input::Receive`].

use crate::types::{Entry, LogIndex, RequestId, Term};
use serde::{Deserialize, Serialize};

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
        }
    }
}

// No Raft message names a node: the sender travels beside the message.
crate::no_node_ids!(Message);

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
                for (i, e) in m.entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{e}")?;
                }
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
            Message::ClientReply(m) => write!(
                f,
                "ClientReply{{{}, index {}, term {}}}",
                m.request, m.index, m.term
            ),
        }
    }
}
