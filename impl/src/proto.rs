//! The client protocol: frames of [`ClientMsg`] to a node's client address,
//! answered by frames of [`ClientResp`]; and the peer frame.

use crate::core::Status;
use crate::kv::{Command, Outcome};
use kraftwerk_specs::membership::VoterChange;
use kraftwerk_specs::message::Message;
use kraftwerk_specs::types::RequestId;
use serde::{Deserialize, Serialize};

/// A frame between peers: the sender's id and one core message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerFrame {
    /// The sending node.
    pub from: u32,
    /// The message.
    pub msg: Message,
}

/// A client's request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Run a command (through the log).
    Command {
        /// Its id; a retry reuses it.
        request: RequestId,
        /// The command.
        cmd: Command,
    },
    /// Ask for the node's status.
    Status,
    /// Change the voters (joint consensus); answered once the final
    /// configuration commits.
    ChangeMembership {
        /// Its id; a retry reuses it.
        request: RequestId,
        /// The changes.
        changes: Vec<VoterChange>,
    },
}

/// A node's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ClientResp {
    /// The command committed and was applied.
    Done(Outcome),
    /// This node does not lead; try `leader` at `addr` if known.
    NotLeader {
        /// The leader this node knows.
        leader: Option<u32>,
        /// Its client address.
        addr: Option<String>,
    },
    /// The node's status.
    Status(Status),
    /// The request failed on the node.
    Error(String),
    /// The leader refused a membership change (the reason); retrying the
    /// same request elsewhere would not help.
    Refused(String),
}
