//! Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus
//! Algorithm", 2014) as a pure state machine.
//!
//! Everything enters through [`Node::step`] as an [`Input`] — a received
//! message, a timer firing, a client proposal — and leaves as a list of
//! [`Action`]s for the driver to carry out *in order*: persist, then send.
//! There is no clock, no IO and no randomness in here; the model checker and
//! the real runtime drive the very same code.
//!
//! The protocol follows Figure 2 of the paper:
//! - persistent state `currentTerm`, `votedFor` ([`HardState`]) and the log,
//!   each written through an action before any message that depends on it;
//! - RequestVote with the election restriction (§5.4.1);
//! - AppendEntries with the consistency check, conflict truncation and
//!   `commitIndex = min(leaderCommit, index of last new entry)`;
//! - a leader commits only by counting replicas of an entry of its own term
//!   (§5.4.2); earlier entries commit indirectly.
//!
//! Membership change ([`crate::membership`]): configurations are log
//! entries that take effect when appended; votes and commits are counted in
//! the configuration at the end of the node's log (both halves of a joint
//! one); the leader replicates to every server it knows of, voters or not;
//! a leader outside the final configuration steps down once it commits.
//!
//! Two additions a real deployment needs and that do not change safety:
//! a rejected AppendEntries carries the follower's last index as a hint for
//! `nextIndex`, and a leader does not append a client request whose id is
//! already in its log (exactly-once retries; it also keeps the model's log
//! bounded).

mod election;
#[cfg(test)]
mod membership_tests;
mod replication;
#[cfg(test)]
mod tests;

use crate::bugs::Bug;
use crate::invariants::NodeView;
use crate::log::Log;
use crate::membership::{ConfigHistory, Mode};
use crate::message::Message;
pub use crate::node::{Action, Durable, HardState, Input, Timer};
use crate::protocol::{
    core_step_and_view, inherent_protocol_methods, words, Protocol, ProtocolKind,
};
use crate::quorum::Majority;
use crate::replica::{self, ReplicaOwner};
use crate::types::{Entry, LogIndex, NodeId, RenameNodes, Term};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Settings of a Raft node that do not change while it runs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Config {
    /// The bootstrap voters: the configuration until the log holds one.
    pub voters: Majority,
    /// Every server a leader replicates to (bootstrap voters and the spare
    /// servers that a membership change may add), besides the voters of
    /// the current configuration.
    pub servers: Vec<NodeId>,
    /// How membership changes are made.
    pub reconfig: Mode,
    /// At most this many entries in one AppendEntries.
    pub max_entries_per_append: usize,
    /// A new leader appends a no-op entry of its term (Raft dissertation
    /// §6.4; etcd does). Without it, a request left uncommitted by an
    /// earlier leader commits only when a new command of the current term
    /// does: a liveness matter, not a safety one. Off by default so that the
    /// model checks Figure 2 exactly; a real deployment turns it on.
    pub leader_noop: bool,
    /// Catalogued bugs switched on (empty in production).
    pub bugs: BTreeSet<Bug>,
}

impl Config {
    /// A correct configuration of `voters`.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Config {
        let voters = Majority::new(voters);
        Config {
            servers: voters.voters().to_vec(),
            reconfig: Mode::Joint,
            voters,
            max_entries_per_append: 64,
            leader_noop: false,
            bugs: BTreeSet::new(),
        }
    }

    /// What `kraftwerk-node` runs and the model's standard suite checks:
    /// the leader's no-op on, replicating to `others` (servers that do not
    /// vote yet, so that a membership change can add them once caught up).
    pub fn production(
        voters: impl IntoIterator<Item = NodeId>,
        others: impl IntoIterator<Item = NodeId>,
    ) -> Config {
        let mut cfg = Config::new(voters);
        cfg.leader_noop = true;
        cfg.servers.extend(others);
        cfg.servers.sort();
        cfg.servers.dedup();
        cfg
    }

    /// True when the catalogued `bug` is switched on.
    pub fn has(&self, bug: Bug) -> bool {
        self.bugs.contains(&bug)
    }
}

/// A leader's view of one follower's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Progress {
    /// The next index to send (`nextIndex`); `1 <= next <= last index + 1`.
    pub next: LogIndex,
    /// The highest index known to be replicated (`matchIndex`); `< next`.
    pub matched: LogIndex,
}

crate::no_node_ids!(Progress);

/// The role of a node and the volatile state only that role has.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Follows `leader` once it has heard from one in the current term.
    Follower {
        /// The leader of the current term, once known.
        leader: Option<NodeId>,
    },
    /// Collects votes for itself in the current term.
    Candidate {
        /// Voters that granted their vote (itself included).
        votes: BTreeSet<NodeId>,
    },
    /// Replicates its log; `progress` has an entry for every other voter.
    Leader {
        /// Per follower: next index to send, highest index known replicated.
        progress: BTreeMap<NodeId, Progress>,
    },
}

impl RenameNodes for Role {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        match self {
            Role::Follower { leader } => Role::Follower {
                leader: leader.rename_nodes(f),
            },
            Role::Candidate { votes } => Role::Candidate {
                votes: votes.rename_nodes(f),
            },
            Role::Leader { progress } => Role::Leader {
                progress: progress.rename_nodes(f),
            },
        }
    }
}

/// One Raft server.
///
/// Fields are ordered so that the derived `Ord` compares the node's own `id`
/// last: the model's symmetry reduction sorts servers by this order, and
/// sorting by id first would make every permutation the identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Node {
    /// Durable: `currentTerm`, `votedFor`.
    pub hard: HardState,
    /// Durable: the log.
    pub log: Log,
    /// Derived from the log: every configuration it carries; the last one
    /// (its last configuration entry, else the bootstrap voters) is in
    /// effect.
    pub conf: ConfigHistory,
    /// Volatile: highest index known committed; `commit <= log.last_index()`
    /// and never decreases while the node runs.
    pub commit: LogIndex,
    /// Volatile: the role.
    pub role: Role,
    /// Settings shared by every node of the cluster.
    pub cfg: Arc<Config>,
    /// This node.
    pub id: NodeId,
}

impl Node {
    /// A node starting for the first time: term 0, no vote, empty log.
    pub fn new(id: NodeId, cfg: Arc<Config>) -> (Node, Vec<Action>) {
        Node::restore(id, cfg, Durable::default())
    }

    /// A node restarting from what it persisted: a follower that knows no
    /// leader and nothing committed (Figure 2: volatile state is lost).
    pub fn restore(id: NodeId, cfg: Arc<Config>, durable: Durable) -> (Node, Vec<Action>) {
        let Durable { hard, log } = durable;
        let node = Node {
            hard,
            conf: ConfigHistory::of_log(&log, &cfg.voters),
            log,
            commit: LogIndex(0),
            role: Role::Follower { leader: None },
            cfg,
            id,
        };
        (node, vec![Action::SetTimer(Timer::Election)])
    }

    core_step_and_view!(commit);

    fn dispatch(&mut self, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Timeout(Timer::Election) => self.handle_election_timeout(out),
            Input::Timeout(Timer::Heartbeat) => self.handle_heartbeat_timeout(out),
            // KRaft's timers; a Raft node never arms them.
            Input::Timeout(Timer::Fetch | Timer::CheckQuorum) => {}
            // Answered by `route_request`.
            Input::Propose { .. } | Input::ChangeMembership { .. } => {}
            Input::Receive { from, msg } => self.handle_message(from, msg, out),
        }
    }

    fn handle_message(&mut self, from: NodeId, msg: Message, out: &mut Vec<Action>) {
        if msg.is_kraft() {
            // Another protocol's message: not for a Raft node.
            return;
        }
        if let Some(term) = msg.term() {
            if term > self.hard.term {
                // §5.1: a higher term makes any node a follower of that term.
                self.become_follower(term, None, out);
            }
        }
        match msg {
            Message::RequestVote(m) => self.handle_request_vote(from, m, out),
            Message::VoteResponse(m) => self.handle_vote_response(from, m, out),
            Message::AppendEntries(m) => self.handle_append_entries(from, m, out),
            Message::AppendResponse(m) => self.handle_append_response(from, m, out),
            // Requests (answered by `route_request`), replies for clients,
            // and KRaft's messages.
            Message::ClientRequest(_)
            | Message::MembershipRequest(_)
            | Message::ClientReply(_)
            | Message::KraftVote(_)
            | Message::KraftVoteResponse(_)
            | Message::BeginQuorumEpoch(_)
            | Message::EndQuorumEpoch(_)
            | Message::Fetch(_)
            | Message::FetchResponse(_) => {}
        }
    }

    /// Moves to `term` (if higher) as a follower of `leader`, persisting the
    /// term change (which also forgets the vote).
    fn become_follower(&mut self, term: Term, leader: Option<NodeId>, out: &mut Vec<Action>) {
        if term > self.hard.term {
            self.hard = HardState {
                term,
                voted_for: None,
                leader: None,
            };
            out.push(Action::PersistHardState(self.hard));
        }
        if matches!(self.role, Role::Leader { .. }) {
            out.push(Action::CancelTimer(Timer::Heartbeat));
            out.push(Action::SetTimer(Timer::Election));
            // The requests it has not answered are answered by no one here.
            out.push(Action::NotLeader {
                request: None,
                leader,
            });
        }
        let new_role = Role::Follower { leader };
        if self.role != new_role {
            self.role = new_role;
        }
    }

    /// True when the node is the leader of its current term.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    /// The leader this node knows for its current term (itself if leader).
    pub fn known_leader(&self) -> Option<NodeId> {
        match &self.role {
            Role::Follower { leader } => *leader,
            Role::Candidate { .. } => None,
            Role::Leader { .. } => Some(self.id),
        }
    }

    /// The other voters of the current configuration (both halves of a
    /// joint one): whom a candidate asks for votes.
    fn voter_peers(&self) -> Vec<NodeId> {
        let me = self.id;
        self.conf
            .quorum
            .voters()
            .into_iter()
            .filter(|&p| p != me)
            .collect()
    }

    /// Everyone a leader replicates to: the configured servers and the
    /// current voters, except itself.
    fn replication_peers(&self) -> Vec<NodeId> {
        let mut peers = self.conf.quorum.voters();
        peers.extend(self.cfg.servers.iter().copied());
        peers.sort();
        peers.dedup();
        peers.retain(|&p| p != self.id);
        peers
    }

    /// The configuration whose majorities decide votes and commits (only
    /// C_new of a joint one under the `joint-skip-old-majority` bug).
    fn deciding_quorum(&self) -> crate::quorum::Quorum {
        crate::membership::deciding(&self.conf.quorum, self.cfg.has(Bug::JointSkipOldMajority))
    }

    /// Appends entries at the end of the log, durably, keeping the
    /// configuration (and a leader's peers) in step.
    fn append(&mut self, entries: Vec<Entry>, out: &mut Vec<Action>) {
        if self.replica().append(entries, out) {
            self.sync_progress();
        }
    }

    /// Truncates the log after `last`, durably; removing a configuration
    /// entry restores the one before it.
    fn truncate(&mut self, last: LogIndex, out: &mut Vec<Action>) {
        self.replica().truncate(last, out);
    }

    /// A leader tracks every replication peer: one that a new configuration
    /// adds starts from the leader's log end.
    fn sync_progress(&mut self) {
        let peers = self.replication_peers();
        let next = self.log.last_index().next();
        if let Role::Leader { progress } = &mut self.role {
            for p in peers {
                progress.entry(p).or_insert(Progress {
                    next,
                    matched: LogIndex(0),
                });
            }
        }
    }

    /// Checks the node's local invariants; returns the first one broken.
    /// Both drivers call it after every step in their tests.
    pub fn validate(&self) -> Result<(), String> {
        let last = self.log.last_index();
        replica::validate(
            &self.log,
            &self.conf,
            self.commit,
            self.hard.term,
            &self.cfg.voters,
        )?;
        match &self.role {
            Role::Follower { leader } => {
                if *leader == Some(self.id) {
                    return Err("a follower follows itself".into());
                }
            }
            Role::Candidate { votes } => {
                if self.hard.voted_for != Some(self.id) || !votes.contains(&self.id) {
                    return Err("a candidate has not voted for itself".into());
                }
            }
            Role::Leader { progress } => {
                if self.hard.voted_for != Some(self.id) {
                    return Err("a leader has not voted for itself".into());
                }
                for (peer, p) in progress {
                    if p.matched >= p.next || p.next > last.next() || p.next.0 == 0 {
                        return Err(format!("bad progress for {peer}: {p:?}, last {last}"));
                    }
                }
                if self
                    .replication_peers()
                    .iter()
                    .any(|p| !progress.contains_key(p))
                {
                    return Err("a leader does not track every peer".into());
                }
            }
        }
        Ok(())
    }
}

impl Protocol for Node {
    type Config = Config;
    const KIND: ProtocolKind = ProtocolKind::Raft;

    inherent_protocol_methods!();

    fn committed(&self) -> LogIndex {
        self.commit
    }
    fn role_name(&self) -> &'static str {
        match self.role {
            Role::Follower { .. } => "follower",
            Role::Candidate { .. } => "candidate",
            Role::Leader { .. } => "leader",
        }
    }
    fn role_detail(&self) -> String {
        match &self.role {
            Role::Follower { leader: None } => "follower".into(),
            Role::Follower { leader: Some(l) } => format!("follower of {l}"),
            Role::Candidate { votes } => format!("candidate (votes {})", words(votes)),
            // A lone server leads with no one to match.
            Role::Leader { progress } if progress.is_empty() => "leader".into(),
            Role::Leader { progress } => format!(
                "leader (match {})",
                words(progress.iter().map(|(p, pr)| format!("{p}:{}", pr.matched)))
            ),
        }
    }
}

impl RenameNodes for Config {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        Config {
            voters: self.voters.rename_nodes(f),
            // Sorted, as `production` keeps them.
            servers: Majority::new(self.servers.iter().map(|&v| f(v)))
                .voters()
                .to_vec(),
            ..self.clone()
        }
    }
}

impl RenameNodes for Node {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        Node {
            hard: self.hard.rename_nodes(f),
            log: self.log.rename_nodes(f),
            conf: self.conf.rename_nodes(f),
            commit: self.commit,
            role: self.role.rename_nodes(f),
            cfg: self.cfg.rename_nodes(f),
            id: f(self.id),
        }
    }
}
