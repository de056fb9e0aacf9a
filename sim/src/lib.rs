//! # kraftwerk-sim
//!
//! One seeded cluster harness for the tests of both protocol cores. A
//! [`Cluster`] holds a few [`AnyNode`]s of one [`AnyConfig`], a network of
//! messages in flight, each server's armed timers and its disk (a
//! [`Durable`] changed only by the durable-state rule, [`Durable::apply`]).
//! A test (or a [`script`], or the seeded [`random`] schedules) chooses what
//! happens next: deliver, duplicate or drop a message, fire a timer,
//! propose, ask for a membership change, crash a server and restart it from
//! its disk, partition and heal the network.
//!
//! After every step the harness checks, and reports the first failure as
//! an `Err`:
//!
//! - every live node's `validate()`;
//! - the safety properties of [`kraftwerk_specs::invariants`] over the live
//!   nodes and a ghost [`History`] of every message sent (every safety
//!   property of the specs' registry for the protocol, [`invariants::always`]);
//! - unless [`Cluster::contracts`] is off (it is when a catalogued bug is
//!   switched on, so that only the properties judge the bug): the
//!   contracts of the emitted actions ([`contracts`]): what a message
//!   claims is on the sender's disk before it is sent, the disk equals the
//!   node's durable part after each step, entries are applied once, in
//!   order, only when committed, and the same everywhere, and a reply
//!   names a committed request of a leader's own term.
//!
//! Nothing here uses a clock or real randomness: the same seed (or script)
//! gives the same run, byte for byte.

#![deny(missing_docs)]

pub mod contracts;
pub mod random;
pub mod script;
mod text;

pub use text::{action_text, log_text};

use kraftwerk_specs::invariants::{self, History, NodeView, Property};
use kraftwerk_specs::membership::{Refusal, VoterChange};
use kraftwerk_specs::message::{ClientReply, Message};
use kraftwerk_specs::node::{Action, Durable, Input, Timer};
use kraftwerk_specs::protocol::{AnyConfig, AnyNode, ProtocolKind};
use kraftwerk_specs::types::{Entry, LogIndex, NodeId, RequestId};
use std::collections::{BTreeMap, BTreeSet};

/// A tiny deterministic generator (xorshift64*): the same seed gives the
/// same schedule on every machine, with no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// A message in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The sender.
    pub from: NodeId,
    /// The recipient.
    pub to: NodeId,
    /// The message.
    pub msg: Message,
}

/// One server: the node in memory, its disk, its armed timers, whether it
/// is up, and how far its state machine has applied since it last started.
#[derive(Clone, Debug)]
pub struct Server {
    /// The protocol core (stale while the server is down).
    pub node: AnyNode,
    /// What it persisted: changed only by [`Durable::apply`].
    pub disk: Durable,
    /// Its armed timers (one-shot: firing disarms).
    pub timers: BTreeSet<Timer>,
    /// False between [`Cluster::crash`] and [`Cluster::restart`].
    pub up: bool,
    /// The last index applied in this life.
    pub applied: LogIndex,
}

/// What the runs reached, so that a passing run is not a vacuous one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Steps that fed an input to a node.
    pub steps: usize,
    /// Times a node became leader.
    pub elections_won: usize,
    /// Times a node became leader of a term above 1.
    pub later_leaders: usize,
    /// Entries applied (all servers, all lives).
    pub applied: usize,
    /// Client and administrator replies.
    pub replies: usize,
    /// Truncations that removed at least one entry from a disk.
    pub truncations: usize,
    /// Restarts.
    pub restarts: usize,
    /// EndQuorumEpoch messages sent (KRaft resignations).
    pub resignations: usize,
    /// Leaders that stepped down because they were no longer voters.
    pub removed_leaders: usize,
    /// The largest committed index any node reached.
    pub max_committed: LogIndex,
}

/// An answer a node gave a client or the administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `Action::Reply`.
    Reply {
        /// The replying node.
        node: NodeId,
        /// The request.
        request: RequestId,
        /// Where it committed.
        index: LogIndex,
    },
    /// `Action::Refuse`.
    Refuse {
        /// The refusing node.
        node: NodeId,
        /// The request.
        request: RequestId,
        /// Why.
        reason: Refusal,
    },
}

/// A seeded cluster of one protocol (see the crate documentation).
#[derive(Clone, Debug)]
pub struct Cluster {
    cfg: AnyConfig,
    servers: BTreeMap<NodeId, Server>,
    /// Messages in flight, oldest first.
    pub network: Vec<Envelope>,
    /// The ghost record the properties about the past read.
    pub history: History,
    /// Check the action contracts too (see the crate documentation).
    pub contracts: bool,
    /// Every entry applied anywhere, by index: all servers, all lives.
    applied: BTreeMap<LogIndex, Entry>,
    /// Replies and refusals, in order.
    pub answers: Vec<Answer>,
    /// The groups of a partition (messages between groups are lost), if
    /// any.
    partition: Option<Vec<BTreeSet<NodeId>>>,
    /// Properties already reported broken (each is reported once).
    broken: BTreeSet<&'static str>,
    /// What happened since the last [`Cluster::take_trace`].
    trace: Vec<String>,
    /// Record every action in the trace (scripts), not only the inputs.
    pub verbose: bool,
    /// What the run reached.
    pub stats: Stats,
    /// The node being stepped led before the step (a leader that removes
    /// itself replies, then steps down, in one step).
    leader_before: bool,
}

/// The result of a step: `Err` names the first check that failed.
pub type Check = Result<(), String>;

impl Cluster {
    /// Servers `ids` of `cfg`, started from empty disks. Fails if a start
    /// already breaks a check.
    pub fn new(cfg: AnyConfig, ids: &[NodeId]) -> Result<Cluster, String> {
        let contracts = match &cfg {
            AnyConfig::Raft(c) => c.bugs.is_empty(),
            AnyConfig::Kraft(c) => c.bugs.is_empty(),
        };
        let mut c = Cluster {
            cfg,
            servers: BTreeMap::new(),
            network: Vec::new(),
            history: History::default(),
            contracts,
            applied: BTreeMap::new(),
            answers: Vec::new(),
            partition: None,
            broken: BTreeSet::new(),
            trace: Vec::new(),
            verbose: false,
            stats: Stats::default(),
            leader_before: false,
        };
        for &id in ids {
            let (node, out) = c.cfg.restore(id, Durable::default());
            c.servers.insert(
                id,
                Server {
                    node,
                    disk: Durable::default(),
                    timers: BTreeSet::new(),
                    up: true,
                    applied: LogIndex(0),
                },
            );
            c.carry_out(id, out)?;
        }
        c.check()?;
        Ok(c)
    }

    /// The production configuration of `kind` on voters `ids` (what
    /// `kraftwerk-node` runs and the model's standard suite checks).
    pub fn production(kind: ProtocolKind, ids: &[NodeId]) -> Result<Cluster, String> {
        Cluster::new(AnyConfig::production(kind, ids, &[]), ids)
    }

    /// The configuration.
    pub fn config(&self) -> &AnyConfig {
        &self.cfg
    }

    /// Every server's id.
    pub fn ids(&self) -> Vec<NodeId> {
        self.servers.keys().copied().collect()
    }

    /// A server.
    pub fn server(&self, id: NodeId) -> &Server {
        self.servers
            .get(&id)
            .unwrap_or_else(|| panic!("no server {id}"))
    }

    /// A server's node.
    pub fn node(&self, id: NodeId) -> &AnyNode {
        &self.server(id).node
    }

    /// True when `id` is up.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.server(id).up
    }

    /// The live leader of the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.servers
            .iter()
            .filter(|(_, s)| s.up && s.node.is_leader())
            .max_by_key(|(_, s)| s.node.hard().term)
            .map(|(&id, _)| id)
    }

    /// Every live leader (two of the same term break election safety).
    pub fn leaders(&self) -> Vec<NodeId> {
        self.servers
            .iter()
            .filter(|(_, s)| s.up && s.node.is_leader())
            .map(|(&id, _)| id)
            .collect()
    }

    /// True when `id` answered `request` with a reply.
    pub fn replied(&self, request: RequestId) -> bool {
        self.answers
            .iter()
            .any(|a| matches!(a, Answer::Reply { request: r, .. } if *r == request))
    }

    /// The requests replied to so far, in order (a request answered twice
    /// is listed twice).
    pub fn replies(&self) -> Vec<RequestId> {
        self.answers
            .iter()
            .filter_map(|a| match a {
                Answer::Reply { request, .. } => Some(*request),
                Answer::Refuse { .. } => None,
            })
            .collect()
    }

    /// The refusals so far, in order.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.answers
            .iter()
            .filter_map(|a| match a {
                Answer::Refuse { reason, .. } => Some(*reason),
                Answer::Reply { .. } => None,
            })
            .collect()
    }

    /// Takes what happened since the last call, one line per event.
    pub fn take_trace(&mut self) -> Vec<String> {
        std::mem::take(&mut self.trace)
    }

    fn note(&mut self, line: String) {
        self.trace.push(line);
    }

    // ---- steps --------------------------------------------------------

    /// Feeds `input` to the live server `id`, carries out its actions and
    /// checks the cluster.
    pub fn step(&mut self, id: NodeId, input: Input) -> Check {
        let s = self.servers.get_mut(&id).expect("known server");
        assert!(s.up, "{id} is down");
        let was_leader = s.node.is_leader();
        self.leader_before = was_leader;
        let out = s.node.step(input);
        let (leads, term) = (s.node.is_leader(), s.node.hard().term);
        self.stats.steps += 1;
        if was_leader && !leads && !s.node.is_voter() {
            self.stats.removed_leaders += 1;
        }
        if !was_leader && leads {
            self.stats.elections_won += 1;
            if term.0 > 1 {
                self.stats.later_leaders += 1;
            }
        }
        let carried = self.carry_out(id, out);
        self.leader_before = false;
        carried?;
        self.check()
    }

    /// Delivers the message in flight at `k` (a copy stays in flight with
    /// `keep_copy`: a duplicating network). A message to a server that is
    /// down is lost.
    pub fn deliver_at(&mut self, k: usize, keep_copy: bool) -> Check {
        let env = if keep_copy {
            self.network[k].clone()
        } else {
            self.network.remove(k)
        };
        let copy = if keep_copy { " (copy kept)" } else { "" };
        if !self.is_up(env.to) {
            self.note(format!(
                "{} -> {} {} (lost: down)",
                env.from, env.to, env.msg
            ));
            return Ok(());
        }
        self.note(format!("{} -> {} {}{copy}", env.from, env.to, env.msg));
        let input = Input::Receive {
            from: env.from,
            msg: env.msg,
        };
        self.step(env.to, input)
    }

    /// Delivers the oldest message in flight from `from` to `to`; false
    /// when there is none.
    pub fn deliver(&mut self, from: NodeId, to: NodeId) -> Result<bool, String> {
        match self
            .network
            .iter()
            .position(|e| e.from == from && e.to == to)
        {
            Some(k) => self.deliver_at(k, false).map(|()| true),
            None => Ok(false),
        }
    }

    /// Loses the message in flight at `k`.
    pub fn drop_at(&mut self, k: usize) {
        let env = self.network.remove(k);
        self.note(format!("{} -> {} {} (dropped)", env.from, env.to, env.msg));
    }

    /// Loses every message in flight for which `lose` holds; returns how
    /// many.
    pub fn drop_where(&mut self, lose: impl Fn(&Envelope) -> bool) -> usize {
        let before = self.network.len();
        self.network.retain(|e| !lose(e));
        before - self.network.len()
    }

    /// Fires `timer` at `id` if it is up and the timer is armed; returns
    /// whether it fired.
    pub fn fire(&mut self, id: NodeId, timer: Timer) -> Result<bool, String> {
        let s = self.servers.get_mut(&id).expect("known server");
        if !s.up || !s.timers.remove(&timer) {
            return Ok(false);
        }
        self.note(format!("{id} timeout {}", text::timer_name(timer)));
        self.step(id, Input::Timeout(timer)).map(|()| true)
    }

    /// Fires `timer` at the live server `id` whether it is armed or not (a
    /// test that wants an election now: etcd's `campaign`).
    pub fn force(&mut self, id: NodeId, timer: Timer) -> Check {
        self.servers
            .get_mut(&id)
            .expect("known server")
            .timers
            .remove(&timer);
        self.note(format!("{id} timeout {}", text::timer_name(timer)));
        self.step(id, Input::Timeout(timer))
    }

    /// A client asks `id` to append request `c<client>#<seq>`.
    pub fn propose(&mut self, id: NodeId, request: RequestId, data: Vec<u8>) -> Check {
        self.note(format!("{id} propose {request}"));
        self.step(id, Input::Propose { request, data })
    }

    /// The administrator asks `id` for `changes`.
    pub fn change(&mut self, id: NodeId, request: RequestId, changes: Vec<VoterChange>) -> Check {
        let words: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        self.note(format!("{id} change {request} {}", words.join(" ")));
        self.step(id, Input::ChangeMembership { request, changes })
    }

    /// `id` crashes: memory and timers are lost, the disk stays.
    pub fn crash(&mut self, id: NodeId) -> Check {
        let s = self.servers.get_mut(&id).expect("known server");
        s.up = false;
        s.timers.clear();
        self.note(format!("{id} crash"));
        self.check()
    }

    /// `id` restarts from its disk (it may be up: a crash and restart in
    /// one step).
    pub fn restart(&mut self, id: NodeId) -> Check {
        let disk = self.server(id).disk.clone();
        let (node, out) = self.cfg.restore(id, disk);
        let s = self.servers.get_mut(&id).expect("known server");
        s.node = node;
        s.up = true;
        s.timers.clear();
        s.applied = LogIndex(0);
        self.stats.restarts += 1;
        self.note(format!("{id} restart"));
        let carried = self.carry_out(id, out);
        self.leader_before = false;
        carried?;
        self.check()
    }

    /// Delivers messages oldest first, without firing timers, until none is
    /// in flight; fails after `max` deliveries (no quiescence).
    pub fn stabilize(&mut self, max: usize) -> Result<usize, String> {
        let mut n = 0;
        while !self.network.is_empty() {
            if n == max {
                return Err(format!("not stable after {max} deliveries"));
            }
            self.deliver_at(0, false)?;
            n += 1;
        }
        Ok(n)
    }

    /// From now on messages between different `groups` are lost when sent;
    /// those in flight across groups are lost now. A server in no group is
    /// cut off from everyone.
    pub fn partition(&mut self, groups: Vec<BTreeSet<NodeId>>) {
        self.partition = Some(groups);
        let lost = self.drop_where_crossing();
        self.note(format!("partition ({lost} in flight lost)"));
    }

    /// Ends the partition.
    pub fn heal(&mut self) {
        self.partition = None;
        self.note("heal".into());
    }

    fn drop_where_crossing(&mut self) -> usize {
        let Some(groups) = self.partition.clone() else {
            return 0;
        };
        self.drop_where(|e| !connected(&groups, e.from, e.to))
    }

    // ---- carrying out actions ------------------------------------------

    /// Carries out `out` for `id` in order, as a driver would, checking
    /// each action against what was carried out before it.
    fn carry_out(&mut self, id: NodeId, out: Vec<Action>) -> Check {
        for action in out {
            if self.verbose {
                let line = format!("  {}", action_text(&action));
                self.note(line);
            }
            let s = self.servers.get_mut(&id).expect("known server");
            if let Action::TruncateLog { last } = action {
                if last < s.disk.log.last_index() {
                    self.stats.truncations += 1;
                }
            }
            if s.disk.apply(&action) {
                continue;
            }
            match action {
                Action::Send { to, msg } => {
                    if self.contracts {
                        contracts::durable_before_send(id, &s.disk, to, &msg)
                            .map_err(|e| format!("{id} sends {msg} to {to}: {e}"))?;
                    }
                    if matches!(msg, Message::EndQuorumEpoch(_)) {
                        self.stats.resignations += 1;
                    }
                    self.record(id, &msg);
                    let crossing = self
                        .partition
                        .as_ref()
                        .is_some_and(|g| !connected(g, id, to));
                    if !crossing && self.servers.contains_key(&to) {
                        self.network.push(Envelope { from: id, to, msg });
                    }
                }
                Action::SetTimer(t) => {
                    s.timers.insert(t);
                }
                Action::CancelTimer(t) => {
                    s.timers.remove(&t);
                }
                Action::Apply { index, entry } => {
                    if self.contracts {
                        contracts::check_apply(id, s, &mut self.applied, index, &entry)?;
                    }
                    s.applied = index;
                    self.stats.applied += 1;
                }
                Action::Reply {
                    request,
                    index,
                    term,
                } => {
                    if self.contracts {
                        contracts::check_reply(id, s, self.leader_before, request, index, term)?;
                    }
                    self.stats.replies += 1;
                    self.answers.push(Answer::Reply {
                        node: id,
                        request,
                        index,
                    });
                    let reply = Message::ClientReply(ClientReply {
                        request,
                        index,
                        term,
                    });
                    self.record(id, &reply);
                }
                Action::Refuse { request, reason } => self.answers.push(Answer::Refuse {
                    node: id,
                    request,
                    reason,
                }),
                Action::NotLeader { .. } => {}
                Action::PersistHardState(_) | Action::TruncateLog { .. } | Action::AppendLog(_) => {
                    unreachable!("carried out by Durable::apply")
                }
            }
        }
        Ok(())
    }

    fn record(&mut self, from: NodeId, msg: &Message) {
        if let Some(h) = self.history.record_send(from, msg) {
            self.history = h;
        }
    }

    // ---- checks ---------------------------------------------------------

    /// The safety properties that apply to this cluster's protocol (the
    /// specs' registry).
    pub fn properties(&self) -> Vec<&'static Property> {
        invariants::always(self.cfg.kind()).collect()
    }

    /// The names of the safety properties broken now.
    pub fn broken_now(&self) -> Vec<&'static str> {
        let views: Vec<NodeView<'_>> = self
            .servers
            .values()
            .filter(|s| s.up)
            .map(|s| s.node.view())
            .collect();
        self.properties()
            .into_iter()
            .filter(|p| !p.holds_on(&views, &self.history))
            .map(|p| p.name)
            .collect()
    }

    /// Everything that must hold between steps: the safety properties
    /// first (so that a catalogued bug is reported by the property it
    /// breaks; each once), then each live node's own invariants and the
    /// disk contract.
    pub fn check(&mut self) -> Check {
        let newly: Vec<&'static str> = self
            .broken_now()
            .into_iter()
            .filter(|p| !self.broken.contains(p))
            .collect();
        if !newly.is_empty() {
            self.broken.extend(&newly);
            return Err(format!("{} violated", newly.join(", ")));
        }
        for (id, s) in &self.servers {
            if !s.up {
                continue;
            }
            s.node.validate().map_err(|e| format!("{id}: {e}"))?;
            self.stats.max_committed = self.stats.max_committed.max(s.node.committed());
            if self.contracts && s.disk != s.node.durable() {
                return Err(format!(
                    "{id}: disk {:?} is not the node's durable part {:?}",
                    s.disk,
                    s.node.durable()
                ));
            }
        }
        Ok(())
    }

    /// One line per server: role, term, log, committed prefix, disk when
    /// it differs, armed timers.
    pub fn state_lines(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|(id, s)| text::server_line(*id, s))
            .collect()
    }

    /// The trace so far, every server and the network, for a failure
    /// report.
    pub fn describe(&self) -> String {
        let mut s = String::from("\ntrace:");
        for line in &self.trace {
            s += &format!("\n  {line}");
        }
        s += "\nservers:";
        for line in self.state_lines() {
            s += &format!("\n  {line}");
        }
        s += &format!("\n  {} messages in flight", self.network.len());
        s
    }
}

fn connected(groups: &[BTreeSet<NodeId>], a: NodeId, b: NodeId) -> bool {
    groups.iter().any(|g| g.contains(&a) && g.contains(&b))
}
