//! KRaft, Kafka's Raft (KIP-595, with KIP-996 pre-vote as an option), as a
//! pure state machine on the same vocabulary as [`crate::raft`]: an
//! [`Input`] into [`Node::step`], [`Action`]s out, persist before send.
//!
//! # The algorithm
//!
//! KRaft is Raft turned from push to pull. Terms are called *epochs*; the
//! leader does not send its log, the followers *fetch* it.
//!
//! - **Durable state** is the quorum-state file — epoch, voted id, leader id
//!   ([`HardState`]) — and the log of (epoch, record). Every change of it is
//!   an [`Action::PersistHardState`] emitted before any message that
//!   depends on it.
//! - **States.** A voter is *Unattached* (knows its epoch, not its
//!   leader), *Voted* (granted its vote in the epoch), *Prospective*
//!   (pre-vote on: asking whether it could win, without bumping the
//!   epoch), *Candidate*, *Leader*, *Follower* (knows the epoch's leader)
//!   or *Resigned* (a leader that gave up its epoch). An *observer* — any
//!   node that is not a voter of its configuration (see *Membership
//!   change* below) — fetches, but never campaigns, never votes and never
//!   counts: it is Unattached or Follower, or Leader/Resigned when its
//!   own change removed it.
//! - **Election.** On an election timeout a voter becomes a candidate:
//!   it bumps the epoch, votes for itself durably and sends Vote(epoch,
//!   last epoch, log end offset) to the voters. With pre-vote it first
//!   becomes Prospective and sends the same request flagged `pre_vote` at
//!   its current epoch; only a majority of pre-votes lets it bump. A vote
//!   of a lower epoch is refused (the answer carries the newer epoch); a
//!   higher epoch first moves the receiver to Unattached in it. A real
//!   vote is granted only by an Unattached, Voted or Prospective voter
//!   that has not voted in the epoch (or voted for this candidate) and
//!   knows no leader in it, and whose own (last epoch, log end offset) is
//!   not ahead of the candidate's, epoch first. Followers, candidates,
//!   leaders and resigned leaders never grant a real vote. A pre-vote is
//!   granted on the log check alone, by any voter that is not following or
//!   leading (Unattached, Voted, Prospective, Candidate).
//! - **Leader.** A majority of votes makes a leader. It records its log
//!   end offset as the epoch start offset, appends a leader-change record
//!   (a [`Payload::Noop`](crate::types::Payload::Noop)) in the new epoch
//!   and sends BeginQuorumEpoch to the voters, which become its followers
//!   (it resends to those that have not fetched yet on
//!   [`Timer::Heartbeat`]). Client commands are appended only by the
//!   leader, once per request id, as in Raft.
//! - **Fetch.** A follower sends Fetch(fetch offset = its log end offset,
//!   last fetched epoch, its epoch) on [`Timer::Fetch`], and again at once
//!   after an answer changed its log. The leader answers a lower epoch with
//!   FENCED and, when it does not lead, a non-leader answers NOT_LEADER
//!   with the leader it knows. If the leader's log does not hold the
//!   fetcher's last fetched epoch up to the fetch offset, it answers
//!   DivergingEpoch(largest epoch ≤ last fetched epoch, its end offset)
//!   and the follower truncates to it — never below its high watermark —
//!   and fetches again. Otherwise the fetch offset is that voter's
//!   acknowledgement of everything before it, and the answer carries the
//!   records after it and the leader's high watermark.
//! - **High watermark.** The leader sorts the voters' acknowledged offsets
//!   (its own log end offset included) in descending order and takes the
//!   one at position ⌊n/2⌋ ([`Majority::committed_index`]; the smaller of
//!   the two halves' for a joint configuration); it adopts it
//!   only if it is past the epoch start offset (the leader-change record is
//!   on a majority, which is KRaft's form of Raft's "commit an entry of
//!   your own term") and past its current high watermark. A new leader
//!   exposes no high watermark until then (Kafka's monotonic global high
//!   watermark). A follower sets its high watermark to min(leader's, own
//!   log end offset) and never lowers it. Records up to the high watermark
//!   are applied ([`Action::Apply`]) and, on the leader, answered
//!   ([`Action::Reply`]).
//! - **Leaving an epoch.** Any answer that shows a higher epoch, FENCED or
//!   NOT_LEADER moves the receiver to that epoch: Follower when it names a
//!   leader, Unattached otherwise. With `check_quorum`, a leader that was
//!   not fetched from by a majority within a check interval resigns: it
//!   becomes Resigned and sends EndQuorumEpoch(preferred successors,
//!   ranked best fetched first, voters that fetched equally far tied); a
//!   first rank of one voter campaigns at once, tied ones wait for their
//!   election timers (no id picks one of them).
//! - **Restart** ([`Node::restore`]). The configuration is read from the
//!   log. A former leader restarts Resigned in its epoch (voter or not),
//!   so that it never votes or leads in it again; a node that
//!   knows the epoch's leader restarts as its Follower; one that voted for
//!   itself restarts Candidate and asks again; one that voted for another
//!   restarts Voted; anything else restarts Unattached. The high watermark
//!   is volatile and restarts at 0. (Kafka checks the self-vote before the
//!   known leader; a candidate that knows the leader of its epoch cannot
//!   win it — the leader's voters have voted — so following it is the
//!   same outcome, sooner.)
//!
//! # Membership change
//!
//! KIP-853 (AddRaftVoter, RemoveRaftVoter), with joint consensus as in
//! [`crate::raft`] besides ([`Config::reconfig`]; the pure transitions are
//! [`crate::membership`]'s). **A configuration is a record of the log**
//! ([`Payload::Config`](crate::types::Payload::Config), KIP-853's
//! VotersRecord) **and takes effect as soon as it is appended**, committed
//! or not, as in KIP-853; truncating it away (DivergingEpoch) restores the
//! one before it. A node's configuration ([`Node::conf`]) is therefore a
//! function of its log: the last configuration record, else the bootstrap
//! voters [`Config::voters`]; it is re-read wherever the log changes and
//! on restart. Everything that counts voters reads it: a node is a voter
//! iff it is in it (either half of a joint one) — an observer becomes a
//! voter when the record adding it is in its own log, a removed voter
//! becomes an observer; a candidate asks all its voters and wins with a
//! majority of each half; a voter grants only to a candidate of its own
//! configuration; the high watermark is the offset held by a majority of
//! each half (the leader's own end counted only if it is a voter of it),
//! still only past the epoch start offset; BeginQuorumEpoch and
//! EndQuorumEpoch go to its voters and check-quorum counts them. A named
//! leader is followed whether or not it is in the follower's (possibly
//! older) configuration.
//!
//! The leader takes a change request ([`Input::ChangeMembership`],
//! [`Message::MembershipRequest`]) and refuses it
//! ([`Action::Refuse`]) while a configuration record is above its high
//! watermark, and, one voter at a time, while it knows no high watermark
//! in its epoch (KIP-853: its leader-change record must be committed
//! first). Otherwise it appends the new set (single) or C_old,new
//! (joint), and in joint mode appends C_new, with the same request id,
//! once C_old,new is under its high watermark. The administrator is
//! answered ([`Action::Reply`]) when the final configuration commits; a
//! retried request id is not appended again. A leader that its change
//! removed keeps leading (not counting itself) until the configuration
//! without it commits, then **resigns**, as KIP-853 says ("a leader that
//! removed itself resigns after the commit"): it takes the check-quorum
//! path — Resigned in its epoch, which it can then never lead or vote in
//! again, and EndQuorumEpoch to the voters so that the best one campaigns
//! at once (if one is best). As a non-voter it then fetches like an observer that knows no
//! leader, which finds it the next one. With no configuration record in
//! any log, all of this is exactly the static protocol.
//!
//! # Offsets
//!
//! A [`LogIndex`] counts records: record `i` (1-based) is Kafka's offset
//! `i - 1`. With no snapshot (log start offset 0), Kafka's 0-based offsets
//! then map onto this crate without arithmetic:
//!
//! | Kafka                                            | here                               |
//! |--------------------------------------------------|------------------------------------|
//! | log end offset (offset of the next record)       | `log.last_index()`                 |
//! | Fetch `fetchOffset` (the fetcher's end offset)   | `Fetch::fetch_offset`, same value  |
//! | first record of a FetchResponse, at `fetchOffset`| index `fetch_offset + 1`           |
//! | high watermark (first uncommitted offset)        | number of committed records        |
//! | epoch start offset (offset of leader-change rec.)| `last_index()` at election; the record is at `+ 1` |
//! | `endOffsetForEpoch`, DivergingEpoch `endOffset`  | records up to that epoch           |
//! | Vote `lastOffset` (the candidate's end offset)   | `KraftVote::last_offset`           |
//!
//! so "high watermark > epoch start offset" reads the same in both: the
//! leader-change record is committed.
//!
//! # Timers
//!
//! One per kind, never per peer ([`Timer`]): `Election` for every voter that
//! does not lead (for a follower it is the fetch timeout), `Fetch` for
//! followers and observers (a leader removed by its own change included,
//! once resigned), `Heartbeat` for a leader that still has voters
//! to send BeginQuorumEpoch to, `CheckQuorum` for a leader with
//! `check_quorum`. Timeouts have no length here: a driver picks them (the
//! model fires any armed timer at any time).
//!
//! # Not modelled, on purpose
//!
//! - Snapshots, FetchSnapshot and a log start offset above 0: no state
//!   machine snapshot exists in this workspace, and every property here is
//!   about the log.
//! - KIP-853's directory ids, the AddRaftVoter catch-up check (an
//!   observer is added whether or not it has caught up: it cannot count
//!   before it holds the record that adds it) and UpdateRaftVoter;
//!   bootstrapping from a checkpoint's VotersRecord (the bootstrap voters
//!   are [`Config::voters`]).
//! - Lengths of timeouts, randomization and backoffs (election backoff,
//!   EndQuorumEpoch's per-successor backoff: only "the first campaigns at
//!   once" remains, and only when one voter is best; Kafka breaks a tie by
//!   id), Fetch long-polling (`maxWaitMs`), byte limits (a record count
//!   limit instead), batching and linger.
//! - Responses to BeginQuorumEpoch and EndQuorumEpoch: a follower's Fetch
//!   is its acknowledgement, and a resigned leader sends EndQuorumEpoch
//!   once instead of retrying until acknowledged.
//! - Errors other than FENCED and NOT_LEADER: a Fetch of a higher epoch
//!   (Kafka: UNKNOWN_LEADER_EPOCH, which the fetcher drops as it is of a
//!   lower epoch) gets no answer; cluster ids, directory ids and endpoints
//!   do not exist; a follower's "fetched recently" check on pre-votes
//!   collapses into "a follower refuses pre-votes", and a Prospective's
//!   loss by a majority of rejections into "retry on the next timeout",
//!   except that a Prospective refused by the very leader it knew goes
//!   back to following it (see `handle_vote_response`).
//! - Graceful shutdown; the only resignations are check-quorum's and a
//!   removed leader's.
//!
//! Because the model's network may duplicate and reorder, a FetchResponse
//! echoes the fetch offset and last fetched epoch it answers, and a
//! follower acts only on an answer about its current position; a
//! VoteResponse echoes `pre_vote`. Kafka gets the same from pairing a
//! response with its in-flight request.

mod election;
mod fetch;
mod membership;
#[cfg(test)]
mod membership_tests;
#[cfg(test)]
mod tests;

use crate::bugs::Bug;
use crate::invariants::NodeView;
use crate::log::Log;
use crate::membership::{ConfigHistory, Mode};
use crate::message::{Fetch, Message};
use crate::protocol::{
    core_step_and_view, inherent_protocol_methods, words, Protocol, ProtocolKind,
};
use crate::quorum::{Majority, Quorum};
use crate::replica::{self, ReplicaOwner};
use crate::types::{Entry, Epoch, LogIndex, NodeId, RenameNodes};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use crate::node::{Action, Durable, HardState, Input, Timer};

/// Settings of a KRaft node that do not change while it runs (the same on
/// every node of a cluster).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Config {
    /// The bootstrap voters (KIP-595's static `controller.quorum.voters`):
    /// the voters until the log holds a configuration record.
    pub voters: Majority,
    /// The observers: nodes that fetch but never vote. Any node that is not
    /// a voter of its configuration behaves as one; the list tells drivers
    /// which nodes exist (the ones a membership change may add).
    pub observers: BTreeSet<NodeId>,
    /// How membership changes are made (KIP-853 is [`Mode::Single`]).
    pub reconfig: Mode,
    /// At most this many records in one FetchResponse.
    pub max_records_per_fetch: usize,
    /// KIP-996: ask for pre-votes (Prospective) before bumping the epoch.
    pub pre_vote: bool,
    /// A leader resigns when a majority has not fetched within a check
    /// interval ([`Timer::CheckQuorum`]).
    pub check_quorum: bool,
    /// Catalogued bugs switched on (empty in production).
    pub bugs: BTreeSet<Bug>,
}

impl Config {
    /// A correct configuration: `voters` vote, `observers` only fetch;
    /// pre-vote and check-quorum off.
    pub fn new(
        voters: impl IntoIterator<Item = NodeId>,
        observers: impl IntoIterator<Item = NodeId>,
    ) -> Config {
        Config {
            voters: Majority::new(voters),
            observers: observers.into_iter().collect(),
            reconfig: Mode::Joint,
            max_records_per_fetch: 64,
            pre_vote: false,
            check_quorum: false,
            bugs: BTreeSet::new(),
        }
    }

    /// What `kraftwerk-node` runs and the model's standard suite checks:
    /// pre-vote (KIP-996), so that a restarted or partitioned voter does not
    /// disrupt a working leader, and check-quorum, so that a leader cut off
    /// from a majority resigns.
    pub fn production(
        voters: impl IntoIterator<Item = NodeId>,
        observers: impl IntoIterator<Item = NodeId>,
    ) -> Config {
        Config {
            pre_vote: true,
            check_quorum: true,
            ..Config::new(voters, observers)
        }
    }

    /// True when the catalogued `bug` is switched on.
    pub fn has(&self, bug: Bug) -> bool {
        self.bugs.contains(&bug)
    }

    /// Checks that the configuration can run: at least one voter, no node
    /// both voter and observer, room for a record in a fetch.
    pub fn validate(&self) -> Result<(), String> {
        if self.voters.voters().is_empty() {
            return Err("no voters".into());
        }
        if let Some(both) = self.observers.iter().find(|&&o| self.voters.contains(o)) {
            return Err(format!("{both} is both a voter and an observer"));
        }
        if self.max_records_per_fetch == 0 {
            return Err("max_records_per_fetch is 0".into());
        }
        Ok(())
    }
}

impl RenameNodes for Config {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        Config {
            voters: Majority::new(self.voters.voters().iter().map(|&v| f(v))),
            observers: self.observers.rename_nodes(f),
            ..self.clone()
        }
    }
}

/// What only a leader knows (Kafka's `LeaderState`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaderState {
    /// The log end offset when it was elected; its leader-change record is
    /// at the next index.
    pub epoch_start_offset: LogIndex,
    /// The high watermark it exposes: `None` until a majority has fetched
    /// past `epoch_start_offset`, then only increasing;
    /// `<= log.last_index()`.
    pub high_watermark: Option<LogIndex>,
    /// Per other voter (of the current configuration), the highest offset
    /// it acknowledged by fetching in this epoch (as a voter). A voter
    /// absent here has not fetched yet (it still gets BeginQuorumEpoch on
    /// [`Timer::Heartbeat`]). Observers are not tracked: they never count;
    /// a voter that a configuration removes is forgotten.
    pub end_offsets: BTreeMap<NodeId, LogIndex>,
    /// With check-quorum: the voters that fetched since a majority last
    /// did (then it is cleared). Always empty without check-quorum.
    pub fetched: BTreeSet<NodeId>,
}

impl RenameNodes for LeaderState {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        LeaderState {
            epoch_start_offset: self.epoch_start_offset,
            high_watermark: self.high_watermark,
            end_offsets: self.end_offsets.rename_nodes(f),
            fetched: self.fetched.rename_nodes(f),
        }
    }
}

/// The state of a node in its epoch, with what only that state knows. The
/// durable ids (vote, leader) live in [`HardState`]; the ids repeated here
/// agree with it ([`Node::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum State {
    /// Knows the epoch, neither voted in it nor knows its leader.
    Unattached,
    /// Granted its vote in the epoch to `candidate`.
    Voted {
        /// The candidate voted for (`hard.voted_for`).
        candidate: NodeId,
    },
    /// Pre-vote: asks whether it could win, without bumping the epoch.
    Prospective {
        /// Voters that granted a pre-vote (itself included).
        granted: BTreeSet<NodeId>,
    },
    /// Campaigns in the epoch, having voted for itself.
    Candidate {
        /// Voters that granted their vote (itself included).
        granted: BTreeSet<NodeId>,
    },
    /// Leads the epoch.
    Leader(LeaderState),
    /// Fetches from the epoch's leader.
    Follower {
        /// The leader (`hard.leader`).
        leader: NodeId,
    },
    /// Led the epoch and gave it up (or restarted after leading it).
    Resigned,
}

impl RenameNodes for State {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        match self {
            State::Unattached => State::Unattached,
            State::Voted { candidate } => State::Voted {
                candidate: f(*candidate),
            },
            State::Prospective { granted } => State::Prospective {
                granted: granted.rename_nodes(f),
            },
            State::Candidate { granted } => State::Candidate {
                granted: granted.rename_nodes(f),
            },
            State::Leader(l) => State::Leader(l.rename_nodes(f)),
            State::Follower { leader } => State::Follower { leader: f(*leader) },
            State::Resigned => State::Resigned,
        }
    }
}

/// One KRaft server (voter or observer).
///
/// Fields are ordered so that the derived `Ord` compares the node's own `id`
/// last, as in [`crate::raft::Node`]: the model's symmetry reduction sorts
/// servers by this order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Node {
    /// Durable: epoch (`term`), voted id, leader id.
    pub hard: HardState,
    /// Durable: the log.
    pub log: Log,
    /// Derived from the log: every configuration it carries; the last one
    /// (its last configuration record, else the bootstrap voters) is in
    /// effect.
    pub conf: ConfigHistory,
    /// Volatile: the records known committed and applied;
    /// `high_watermark <= log.last_index()`, never decreases while the node
    /// runs, 0 after a restart.
    pub high_watermark: LogIndex,
    /// Volatile: the state in the epoch.
    pub state: State,
    /// Settings shared by every node of the cluster.
    pub cfg: Arc<Config>,
    /// This node.
    pub id: NodeId,
}

impl Node {
    /// A node starting for the first time: epoch 0, no vote, empty log.
    pub fn new(id: NodeId, cfg: Arc<Config>) -> (Node, Vec<Action>) {
        Node::restore(id, cfg, Durable::default())
    }

    /// A node restarting from what it persisted (the restart rules of the
    /// module documentation). It arms its state's timers and resumes what
    /// that state does: a follower fetches, a candidate asks for votes again,
    /// a resigned leader tells the voters to elect a successor.
    pub fn restore(id: NodeId, cfg: Arc<Config>, durable: Durable) -> (Node, Vec<Action>) {
        let Durable { hard, log } = durable;
        let mut actions = Vec::new();
        let out = &mut actions;
        let conf = ConfigHistory::of_log(&log, &cfg.voters);
        let voter = conf.quorum.contains(id);
        let state = match (hard.leader, hard.voted_for) {
            (Some(l), _) if l != id => State::Follower { leader: l },
            // A former leader, even one its own change removed.
            (Some(_), _) => State::Resigned,
            _ if !voter => State::Unattached,
            (None, Some(c)) if c == id => State::Candidate {
                granted: BTreeSet::from([id]),
            },
            (None, Some(c)) => State::Voted { candidate: c },
            (None, None) => State::Unattached,
        };
        let mut node = Node {
            hard,
            conf,
            log,
            high_watermark: LogIndex(0),
            state,
            cfg,
            id,
        };
        for &t in node.timers_for(&node.state) {
            out.push(Action::SetTimer(t));
        }
        match node.state {
            State::Follower { .. } => node.send_fetch(out),
            State::Candidate { .. } => {
                node.send_votes(false, out);
                node.maybe_end_election(out);
            }
            State::Resigned => node.send_end_quorum_epoch(Vec::new(), out),
            _ => {}
        }
        (node, actions)
    }

    core_step_and_view!(high_watermark);

    fn dispatch(&mut self, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Timeout(Timer::Election) => self.handle_election_timeout(out),
            Input::Timeout(Timer::Fetch) => self.handle_fetch_timeout(out),
            Input::Timeout(Timer::Heartbeat) => self.handle_begin_epoch_timeout(out),
            Input::Timeout(Timer::CheckQuorum) => self.handle_check_quorum_timeout(out),
            // Answered by `route_request`.
            Input::Propose { .. } | Input::ChangeMembership { .. } => {}
            Input::Receive { from, msg } => self.handle_message(from, msg, out),
        }
    }

    fn handle_message(&mut self, from: NodeId, msg: Message, out: &mut Vec<Action>) {
        match msg {
            Message::KraftVote(m) => self.handle_vote(from, m, out),
            Message::KraftVoteResponse(m) => self.handle_vote_response(from, m, out),
            Message::BeginQuorumEpoch(m) => self.handle_begin_quorum_epoch(from, m, out),
            Message::EndQuorumEpoch(m) => self.handle_end_quorum_epoch(from, m, out),
            Message::Fetch(m) => self.handle_fetch(from, m, out),
            Message::FetchResponse(m) => self.handle_fetch_response(from, m, out),
            // Requests (answered by `route_request`), replies meant for
            // clients, and Raft's messages.
            Message::ClientRequest(_)
            | Message::MembershipRequest(_)
            | Message::RequestVote(_)
            | Message::VoteResponse(_)
            | Message::AppendEntries(_)
            | Message::AppendResponse(_)
            | Message::ClientReply(_) => {}
        }
    }

    // ---- transitions ---------------------------------------------------

    /// Asks the driver to make `self.hard` durable. A persist that follows
    /// an earlier one with only timer actions in between replaces it: no
    /// message or log write depended on the intermediate state.
    fn persist(&self, out: &mut Vec<Action>) {
        for action in out.iter_mut().rev() {
            match action {
                Action::PersistHardState(h) => {
                    *h = self.hard;
                    return;
                }
                Action::SetTimer(_) | Action::CancelTimer(_) => continue,
                _ => break,
            }
        }
        out.push(Action::PersistHardState(self.hard));
    }

    /// (Re)arms timer `t`, unless this step already re-armed it after its
    /// last message or log action (a second re-arm would change nothing).
    fn set_timer(&self, t: Timer, out: &mut Vec<Action>) {
        for action in out.iter().rev() {
            match action {
                Action::SetTimer(x) if *x == t => return,
                Action::CancelTimer(x) if *x == t => break,
                Action::SetTimer(_) | Action::CancelTimer(_) | Action::PersistHardState(_) => {}
                _ => break,
            }
        }
        out.push(Action::SetTimer(t));
    }

    /// The timers a node arms in `state` (with its current configuration).
    /// A non-voter only fetches; one that led (a leader removed by its own
    /// change, once resigned) fetches like an observer that knows no leader.
    fn timers_for(&self, state: &State) -> &'static [Timer] {
        let voter = self.is_voter();
        match state {
            State::Leader(_) if self.other_voters().is_empty() => &[],
            State::Leader(_) if self.cfg.check_quorum => &[Timer::Heartbeat, Timer::CheckQuorum],
            State::Leader(_) => &[Timer::Heartbeat],
            State::Follower { .. } if voter => &[Timer::Election, Timer::Fetch],
            State::Follower { .. } | State::Unattached | State::Resigned if !voter => {
                &[Timer::Fetch]
            }
            _ => &[Timer::Election],
        }
    }

    /// Enters `state`: cancels the timers only the old state used and
    /// (re)arms the new state's timers.
    fn set_state(&mut self, state: State, out: &mut Vec<Action>) {
        let (old, new) = (self.timers_for(&self.state), self.timers_for(&state));
        for t in old.iter().filter(|t| !new.contains(t)) {
            out.push(Action::CancelTimer(*t));
        }
        for &t in new {
            self.set_timer(t, out);
        }
        let stops_leading = self.is_leader() && !matches!(state, State::Leader(_));
        self.state = state;
        if stops_leading {
            // The requests it has not answered are answered by no one here.
            out.push(Action::NotLeader {
                request: None,
                leader: self.leader_hint(),
            });
        }
    }

    /// Moves to the higher `epoch` knowing no leader and no vote in it.
    fn become_unattached(&mut self, epoch: Epoch, out: &mut Vec<Action>) {
        debug_assert!(epoch > self.hard.term);
        self.hard = HardState {
            term: epoch,
            voted_for: None,
            leader: None,
        };
        self.persist(out);
        self.set_state(State::Unattached, out);
    }

    /// Follows `leader` in `epoch` (this epoch or a higher one; a vote cast
    /// in this epoch is kept) and fetches from it at once.
    fn become_follower(&mut self, epoch: Epoch, leader: NodeId, out: &mut Vec<Action>) {
        debug_assert!(epoch >= self.hard.term && leader != self.id);
        if epoch > self.hard.term {
            self.hard = HardState {
                term: epoch,
                voted_for: None,
                leader: Some(leader),
            };
        } else {
            self.hard.leader = Some(leader);
        }
        self.persist(out);
        self.set_state(State::Follower { leader }, out);
        self.send_fetch(out);
    }

    /// Kafka's `maybeTransition`, on a message that names `epoch` and
    /// perhaps its leader: a higher epoch makes this node a follower of the
    /// named leader or Unattached; this epoch's leader, when it knew none,
    /// makes it a follower. Returns true when it transitioned.
    fn maybe_transition(
        &mut self,
        leader: Option<NodeId>,
        epoch: Epoch,
        out: &mut Vec<Action>,
    ) -> bool {
        // Any named leader is followed, in this node's configuration or
        // not: a node whose log lags behind a change that added the leader
        // must still find it to fetch the change.
        let leader = leader.filter(|&l| l != self.id);
        match leader {
            _ if epoch < self.hard.term => false,
            Some(l) if epoch > self.hard.term || self.hard.leader.is_none() => {
                self.become_follower(epoch, l, out);
                true
            }
            None if epoch > self.hard.term => {
                self.become_unattached(epoch, out);
                true
            }
            _ => false,
        }
    }

    // ---- queries -------------------------------------------------------

    /// The node's epoch.
    pub fn epoch(&self) -> Epoch {
        self.hard.term
    }

    /// True when the node votes: it is a voter (of either half) of the
    /// configuration at the end of its log. Otherwise it is an observer.
    pub fn is_voter(&self) -> bool {
        self.conf.quorum.contains(self.id)
    }

    /// True when the node leads its epoch.
    pub fn is_leader(&self) -> bool {
        matches!(self.state, State::Leader(_))
    }

    /// The leader this node knows for its epoch (itself when it leads or
    /// has resigned the epoch).
    pub fn known_leader(&self) -> Option<NodeId> {
        self.hard.leader
    }

    /// The leader a client should try instead of this node: the epoch's
    /// leader when it is another node.
    fn leader_hint(&self) -> Option<NodeId> {
        self.hard.leader.filter(|&l| l != self.id)
    }

    /// The other voters of the current configuration (both halves of a
    /// joint one), sorted.
    fn other_voters(&self) -> Vec<NodeId> {
        let me = self.id;
        self.conf
            .quorum
            .voters()
            .into_iter()
            .filter(|&v| v != me)
            .collect()
    }

    /// The configuration whose majorities decide votes, the high watermark
    /// and check-quorum (only C_new of a joint one under the
    /// `joint-skip-old-majority` bug).
    fn deciding_quorum(&self) -> Quorum {
        crate::membership::deciding(&self.conf.quorum, self.cfg.has(Bug::JointSkipOldMajority))
    }

    // ---- the log and the configuration it carries ------------------------

    /// Appends `records` at the end of the log, durably, keeping the
    /// configuration in step (a configuration record takes effect here,
    /// committed or not).
    fn append_records(&mut self, records: Vec<Entry>, out: &mut Vec<Action>) {
        let timers = self.timers_for(&self.state);
        if self.replica().append(records, out) {
            self.conf_changed(timers, out);
        }
    }

    /// Truncates the log after `last`, durably; removing a configuration
    /// record restores the one before it.
    fn truncate_log(&mut self, last: LogIndex, out: &mut Vec<Action>) {
        let timers = self.timers_for(&self.state);
        if self.replica().truncate(last, out) {
            self.conf_changed(timers, out);
        }
    }

    /// After the configuration changed (the node armed `before` under the
    /// old one): the timers follow (a follower that became a voter arms its
    /// election timer, one that stopped being a voter cancels it, a leader
    /// that got other voters starts its BeginQuorumEpoch and check-quorum
    /// timers), and a leader forgets the offsets of voters it no longer
    /// has.
    fn conf_changed(&mut self, before: &'static [Timer], out: &mut Vec<Action>) {
        let after = self.timers_for(&self.state);
        for t in before.iter().filter(|t| !after.contains(t)) {
            out.push(Action::CancelTimer(*t));
        }
        for &t in after.iter().filter(|t| !before.contains(t)) {
            self.set_timer(t, out);
        }
        let quorum = self.conf.quorum.clone();
        if let State::Leader(l) = &mut self.state {
            l.end_offsets.retain(|&v, _| quorum.contains(v));
            l.fetched.retain(|&v| quorum.contains(v));
        }
    }

    /// The Fetch this node sends now.
    fn fetch_request(&self) -> Fetch {
        Fetch {
            fetch_offset: self.log.last_index(),
            last_fetched_epoch: self.log.last_term(),
            current_leader_epoch: self.hard.term,
        }
    }

    /// Checks the node's local invariants; returns the first one broken.
    /// Drivers call it after every step in their tests.
    pub fn validate(&self) -> Result<(), String> {
        let end = self.log.last_index();
        replica::validate(
            &self.log,
            &self.conf,
            self.high_watermark,
            self.hard.term,
            &self.cfg.voters,
        )?;
        let hard = self.hard;
        // A non-voter never campaigns. It may have led (its own change
        // removed it: it leads until that change commits, then resigns) or
        // voted (as a voter, before a change removed it; it then knows the
        // epoch's leader).
        let led = matches!(self.state, State::Leader(_) | State::Resigned);
        if !self.is_voter()
            && !led
            && !matches!(self.state, State::Unattached | State::Follower { .. })
        {
            return Err(format!("observer in state {:?}", self.state));
        }
        if !self.is_voter() && hard.voted_for.is_some() && hard.leader.is_none() {
            return Err("an observer voted".into());
        }
        if !self.is_voter() && self.is_leader() && self.conf.is_committed(self.high_watermark) {
            return Err("a leader removed by a committed configuration still leads".into());
        }
        let me = Some(self.id);
        match &self.state {
            State::Unattached => {
                if hard.voted_for.is_some() || hard.leader.is_some() {
                    return Err(format!("unattached with {hard:?}"));
                }
            }
            State::Voted { candidate } => {
                if hard.voted_for != Some(*candidate) || *candidate == self.id {
                    return Err(format!("voted for {candidate} with {hard:?}"));
                }
                if hard.leader.is_some() {
                    return Err("voted but knows a leader".into());
                }
            }
            State::Prospective { granted } | State::Candidate { granted } => {
                if !granted.contains(&self.id) {
                    return Err("a nominee has not granted itself".into());
                }
                if granted.iter().any(|&v| !self.conf.quorum.contains(v)) {
                    return Err("an observer's vote was counted".into());
                }
                if matches!(self.state, State::Candidate { .. })
                    && (hard.voted_for != me || hard.leader.is_some())
                {
                    return Err(format!("candidate with {hard:?}"));
                }
            }
            State::Leader(l) => {
                if hard.voted_for != me || hard.leader != me {
                    return Err(format!("leader with {hard:?}"));
                }
                let start = l.epoch_start_offset;
                if self.log.term_at(start.next()) != Some(hard.term) {
                    return Err(format!("no leader-change record of epoch after {start}"));
                }
                if let Some(h) = l.high_watermark {
                    let before_start = h <= start && !self.cfg.has(Bug::KraftHwmBeforeEpochStart);
                    if h > end || before_start {
                        return Err(format!(
                            "leader high watermark {h}, start {start}, end {end}"
                        ));
                    }
                }
                for (&v, &o) in &l.end_offsets {
                    if v == self.id || !self.conf.quorum.contains(v) || o > end {
                        return Err(format!("bad end offset {o} for {v}"));
                    }
                }
                if !self.cfg.check_quorum && !l.fetched.is_empty() {
                    return Err("fetched voters tracked without check-quorum".into());
                }
            }
            State::Follower { leader } => {
                if hard.leader != Some(*leader) || *leader == self.id {
                    return Err(format!("follower of {leader} with {hard:?}"));
                }
            }
            State::Resigned => {
                if hard.leader != me {
                    return Err(format!("resigned with {hard:?}"));
                }
            }
        }
        Ok(())
    }
}

impl Protocol for Node {
    type Config = Config;
    const KIND: ProtocolKind = ProtocolKind::Kraft;

    inherent_protocol_methods!();

    fn committed(&self) -> LogIndex {
        self.high_watermark
    }
    fn role_name(&self) -> &'static str {
        match self.state {
            State::Unattached => "unattached",
            State::Voted { .. } => "voted",
            State::Prospective { .. } => "prospective",
            State::Candidate { .. } => "candidate",
            State::Leader(_) => "leader",
            State::Follower { .. } => "follower",
            State::Resigned => "resigned",
        }
    }
    fn role_detail(&self) -> String {
        match &self.state {
            State::Voted { candidate } => format!("voted for {candidate}"),
            State::Prospective { granted } => format!("prospective (pre-votes {})", words(granted)),
            State::Candidate { granted } => format!("candidate (votes {})", words(granted)),
            // Before any voter's first fetch there is nothing acked.
            State::Leader(l) if l.end_offsets.is_empty() => {
                format!("leader (start {})", l.epoch_start_offset)
            }
            State::Leader(l) => format!(
                "leader (start {}, acked {})",
                l.epoch_start_offset,
                words(l.end_offsets.iter().map(|(p, o)| format!("{p}:{o}")))
            ),
            State::Follower { leader } => format!("follower of {leader}"),
            State::Unattached | State::Resigned => self.role_name().into(),
        }
    }
}

impl RenameNodes for Node {
    fn rename_nodes(&self, f: &dyn Fn(NodeId) -> NodeId) -> Self {
        Node {
            hard: self.hard.rename_nodes(f),
            log: self.log.rename_nodes(f),
            conf: self.conf.rename_nodes(f),
            high_watermark: self.high_watermark,
            state: self.state.rename_nodes(f),
            cfg: self.cfg.rename_nodes(f),
            id: f(self.id),
        }
    }
}
