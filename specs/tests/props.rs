//! Property tests of the Raft core.
//!
//! 1. Every [`Message`] survives a serde_json round trip unchanged.
//! 2. A three-node cluster driven by a random schedule stays safe. The
//!    schedule delivers pending messages in any order (sometimes keeping a
//!    copy, so that it is delivered again), drops some, fires armed timers,
//!    proposes client commands and crash-restarts nodes. A restarted node
//!    gets back exactly what it persisted: the harness keeps each node's
//!    durable state as a separate copy that only the `PersistHardState`,
//!    `TruncateLog` and `AppendLog` actions change. After every step the
//!    harness checks each node's `validate()`, the catalogued safety
//!    properties ([`invariants::always`]) over the live nodes and a ghost [`History`]
//!    of every message sent and every client reply, and a few contracts of
//!    the action list itself (persist before send, apply in order, one armed
//!    timer per role).
//!
//! Terms stay small because at most [`ELECTIONS_MAX`] election timeouts
//! fire in one schedule.

use kraftwerk_specs::bugs::Bug;
use kraftwerk_specs::invariants::{self, History, NodeView};
use kraftwerk_specs::log::Log;
use kraftwerk_specs::message::{
    AppendEntries, AppendResponse, ClientReply, ClientRequest, Message, RequestVote, VoteResponse,
};
use kraftwerk_specs::protocol::ProtocolKind;
use kraftwerk_specs::raft::{Action, Config, HardState, Input, Node, Timer};
use kraftwerk_specs::types::{Entry, LogIndex, NodeId, Payload, RequestId, Term};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{
    Config as RunnerConfig, RngSeed, TestCaseError, TestError, TestRunner,
};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

// ---- 1. serde round trip -------------------------------------------------

fn term() -> impl Strategy<Value = Term> {
    any::<u64>().prop_map(Term)
}

fn log_index() -> impl Strategy<Value = LogIndex> {
    any::<u64>().prop_map(LogIndex)
}

fn request_id() -> impl Strategy<Value = RequestId> {
    (any::<u64>(), any::<u64>()).prop_map(|(client, seq)| RequestId { client, seq })
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..8)
}

fn entry() -> impl Strategy<Value = Entry> {
    let payload = prop_oneof![
        Just(Payload::Noop),
        (request_id(), data()).prop_map(|(request, data)| Payload::Command { request, data }),
    ];
    (term(), payload).prop_map(|(term, payload)| Entry { term, payload })
}

/// Every variant of [`Message`], with arbitrary fields.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (term(), log_index(), term()).prop_map(|(term, last_log_index, last_log_term)| {
            Message::RequestVote(RequestVote {
                term,
                last_log_index,
                last_log_term,
            })
        }),
        (term(), any::<bool>())
            .prop_map(|(term, granted)| Message::VoteResponse(VoteResponse { term, granted })),
        (
            term(),
            log_index(),
            term(),
            proptest::collection::vec(entry(), 0..5),
            log_index(),
        )
            .prop_map(
                |(term, prev_log_index, prev_log_term, entries, leader_commit)| {
                    Message::AppendEntries(AppendEntries {
                        term,
                        prev_log_index,
                        prev_log_term,
                        entries,
                        leader_commit,
                    })
                }
            ),
        (term(), any::<bool>(), log_index()).prop_map(|(term, success, match_index)| {
            Message::AppendResponse(AppendResponse {
                term,
                success,
                match_index,
            })
        }),
        (request_id(), data())
            .prop_map(|(request, data)| Message::ClientRequest(ClientRequest { request, data })),
        (request_id(), log_index(), term()).prop_map(|(request, index, term)| {
            Message::ClientReply(ClientReply {
                request,
                index,
                term,
            })
        }),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips_through_json(msg in message()) {
        let json = serde_json::to_string(&msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Message =
            serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &msg, "through {}", json);
        // The round trip keeps what the protocol reads first.
        prop_assert_eq!(back.term(), msg.term());
    }
}

// ---- 2. random schedules on a three-node cluster -------------------------

/// Servers in the cluster; node `i` has id `NodeId(i)`.
const NODES: usize = 3;
/// Schedules have between this many steps (when not shrunk) ...
const STEPS_MIN: usize = 40;
/// ... and this many.
const STEPS_MAX: usize = 60;
/// At most this many election timeouts fire in one schedule (bounds terms).
const ELECTIONS_MAX: usize = 6;
/// Schedules tried on a correct cluster.
const CASES: u32 = 400;
/// At most this many schedules tried per catalogued bug (each is found in
/// a few thousand).
const BUG_CASES: u32 = 20_000;
/// The default seed of the runner: the coverage numbers are reproducible.
const SEED: u64 = 0x6b72_6166_7477_6b21;
/// Proposals use request ids `c0#0 .. c0#(SEQS_MAX - 1)`, so that retries of
/// one request are frequent.
const SEQS_MAX: u64 = 4;

/// One step of a schedule.
#[derive(Clone, Debug)]
enum Op {
    /// Deliver the pending message at `pick`; with `duplicate`, a copy stays
    /// in the network to be delivered again later.
    Deliver { pick: Index, duplicate: bool },
    /// Lose the pending message at `pick`.
    Drop { pick: Index },
    /// `node`'s election timer fires, if it is armed and the budget of
    /// election timeouts lasts.
    ElectionTimeout { node: usize },
    /// The heartbeat timer of one of the current leaders (by `pick`) fires.
    HeartbeatTimeout { pick: Index },
    /// A client sends request `c0#seq` to `node`, or, with `to_leader`, to
    /// the leader of the highest term if there is one (as a client that was
    /// redirected would).
    Propose {
        node: usize,
        to_leader: bool,
        seq: u64,
    },
    /// `node` crashes and restarts from what it persisted.
    Restart { node: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (any::<Index>(), proptest::bool::weighted(0.2))
            .prop_map(|(pick, duplicate)| Op::Deliver { pick, duplicate }),
        4 => any::<Index>().prop_map(|pick| Op::Drop { pick }),
        2 => (0..NODES).prop_map(|node| Op::ElectionTimeout { node }),
        2 => any::<Index>().prop_map(|pick| Op::HeartbeatTimeout { pick }),
        5 => (0..NODES, any::<bool>(), 0..SEQS_MAX)
            .prop_map(|(node, to_leader, seq)| Op::Propose { node, to_leader, seq }),
        1 => (0..NODES).prop_map(|node| Op::Restart { node }),
    ]
}

fn schedule() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), STEPS_MIN..=STEPS_MAX)
}

/// What a server has on stable storage: only persisting actions change it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Durable {
    hard: HardState,
    log: Vec<Entry>,
}

impl Durable {
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        match index.0 {
            0 => Some(Term(0)),
            i => self.log.get(i as usize - 1).map(|e| e.term),
        }
    }
}

/// One server: the node in memory, its disk, its armed timers, and how far
/// its state machine has applied since it last started.
#[derive(Debug)]
struct Server {
    node: Node,
    durable: Durable,
    timers: BTreeSet<Timer>,
    applied: LogIndex,
}

#[derive(Clone, Debug)]
struct Envelope {
    from: NodeId,
    to: NodeId,
    msg: Message,
}

/// What one schedule exercised, to show that the property is not vacuous.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    commit: bool,
    reply: bool,
    truncate: bool,
    later_leader: bool,
}

struct Cluster {
    /// Checks the contracts of the action list too (persist before send,
    /// disk equals memory, apply in order); off when a catalogued bug is
    /// switched on, so that only the safety properties judge it.
    contracts: bool,
    servers: Vec<Server>,
    network: Vec<Envelope>,
    history: History,
    /// Every entry applied anywhere, by index: all servers, all lives.
    applied: BTreeMap<LogIndex, Entry>,
    elections: usize,
    seen: Seen,
    /// One line per step that did something, for the failure report.
    trace: Vec<String>,
}

type Check = Result<(), String>;

impl Cluster {
    fn new(cfg: Arc<Config>) -> Result<Cluster, String> {
        let mut cluster = Cluster {
            contracts: cfg.bugs.is_empty(),
            servers: Vec::new(),
            network: Vec::new(),
            history: History::default(),
            applied: BTreeMap::new(),
            elections: 0,
            seen: Seen::default(),
            trace: Vec::new(),
        };
        for i in 0..NODES {
            let mut out = Vec::new();
            let node = {
                let (node, actions) = Node::new(NodeId(i as u32), cfg.clone());
                out.extend(actions);
                node
            };
            cluster.servers.push(Server {
                node,
                durable: Durable::default(),
                timers: BTreeSet::new(),
                applied: LogIndex(0),
            });
            cluster.carry_out(i, out)?;
        }
        cluster.check()?;
        Ok(cluster)
    }

    fn run(&mut self, op: &Op) -> Check {
        match *op {
            Op::Deliver { pick, duplicate } => {
                if self.network.is_empty() {
                    return Ok(());
                }
                let i = pick.index(self.network.len());
                let env = if duplicate {
                    self.network[i].clone()
                } else {
                    self.network.remove(i)
                };
                let copy = if duplicate { " (copy kept)" } else { "" };
                self.trace
                    .push(format!("{} -> {}: {}{copy}", env.from, env.to, env.msg));
                let input = Input::Receive {
                    from: env.from,
                    msg: env.msg,
                };
                self.step(env.to.0 as usize, input)
            }
            Op::Drop { pick } => {
                if !self.network.is_empty() {
                    let env = self.network.remove(pick.index(self.network.len()));
                    self.trace
                        .push(format!("{} -> {}: {} (lost)", env.from, env.to, env.msg));
                }
                Ok(())
            }
            Op::ElectionTimeout { node } => {
                let armed = self.servers[node].timers.contains(&Timer::Election);
                if !armed || self.elections >= ELECTIONS_MAX {
                    return Ok(());
                }
                self.elections += 1;
                self.fire(node, Timer::Election)
            }
            Op::HeartbeatTimeout { pick } => {
                let leaders: Vec<usize> = (0..NODES)
                    .filter(|&k| self.servers[k].node.is_leader())
                    .collect();
                if leaders.is_empty() {
                    return Ok(());
                }
                self.fire(leaders[pick.index(leaders.len())], Timer::Heartbeat)
            }
            Op::Propose {
                node,
                to_leader,
                seq,
            } => {
                let leader = (0..NODES)
                    .filter(|&k| self.servers[k].node.is_leader())
                    .max_by_key(|&k| self.servers[k].node.hard.term);
                let node = match leader {
                    Some(k) if to_leader => k,
                    _ => node,
                };
                let request = RequestId { client: 0, seq };
                self.trace.push(format!("n{node}: propose {request}"));
                let input = Input::Propose {
                    request,
                    data: vec![seq as u8],
                };
                self.step(node, input)
            }
            Op::Restart { node } => {
                self.trace.push(format!("n{node}: crash and restart"));
                let s = &mut self.servers[node];
                let mut out = Vec::new();
                s.node = {
                    let (node, actions) = Node::restore(
                        s.node.id,
                        s.node.cfg.clone(),
                        kraftwerk_specs::node::Durable {
                            hard: s.durable.hard,
                            log: Log::from_entries(s.durable.log.clone()),
                        },
                    );
                    out.extend(actions);
                    node
                };
                s.timers.clear();
                s.applied = LogIndex(0);
                self.carry_out(node, out)
            }
        }
    }

    /// Fires `timer` at node `i` if it is armed there. Timers are one-shot:
    /// the node re-arms what it needs.
    fn fire(&mut self, i: usize, timer: Timer) -> Check {
        if !self.servers[i].timers.remove(&timer) {
            return Ok(());
        }
        self.trace.push(format!("n{i}: {timer:?} timeout"));
        self.step(i, Input::Timeout(timer))
    }

    fn step(&mut self, i: usize, input: Input) -> Check {
        let was_leader = self.servers[i].node.is_leader();
        let mut out = Vec::new();
        out.extend(self.servers[i].node.step(input));
        self.carry_out(i, out)?;
        let n = &self.servers[i].node;
        if !was_leader && n.is_leader() && n.hard.term > Term(1) {
            self.seen.later_leader = true;
        }
        Ok(())
    }

    /// Carries out `out` in order, as a driver would, checking that each
    /// action is allowed by what was carried out before it.
    fn carry_out(&mut self, i: usize, out: Vec<Action>) -> Check {
        let s = &mut self.servers[i];
        let me = s.node.id;
        for action in out {
            match action {
                Action::PersistHardState(h) => s.durable.hard = h,
                Action::TruncateLog { last } => {
                    self.seen.truncate = true;
                    let last = last.0 as usize;
                    if last < s.durable.log.len() {
                        s.durable.log.truncate(last);
                    }
                }
                Action::AppendLog(entries) => s.durable.log.extend(entries),
                Action::Send { to, msg } => {
                    if self.contracts {
                        durable_before_send(me, &s.durable, to, &msg)
                            .map_err(|e| format!("{me} sends {msg} to {to}: {e}"))?;
                    }
                    if let Some(h) = self.history.record_send(me, &msg) {
                        self.history = h;
                    }
                    self.network.push(Envelope { from: me, to, msg });
                }
                Action::SetTimer(t) => {
                    s.timers.insert(t);
                }
                Action::NotLeader { .. } => {}
                Action::CancelTimer(t) => {
                    s.timers.remove(&t);
                }
                Action::Refuse { .. } => {}
                Action::Apply { index, entry } => {
                    self.seen.commit = true;
                    if self.contracts {
                        check_apply(s, &mut self.applied, index, &entry)?;
                    }
                    s.applied = index;
                }
                Action::Reply {
                    request,
                    index,
                    term,
                } => {
                    self.seen.reply = true;
                    let n = &s.node;
                    let held = n.log.get(index).and_then(|e| e.request()) == Some(request);
                    let leads = n.is_leader() && term == n.hard.term;
                    if self.contracts && !(leads && held && index <= s.applied) {
                        return Err(format!("{me} replies {request} at {index} in {term}"));
                    }
                    self.trace
                        .push(format!("{me}: replies {request} committed at {index}"));
                    let reply = Message::ClientReply(ClientReply {
                        request,
                        index,
                        term,
                    });
                    if let Some(h) = self.history.record_send(me, &reply) {
                        self.history = h;
                    }
                }
            }
        }
        Ok(())
    }

    /// Everything that must hold between steps: the safety properties
    /// first (so that a catalogued bug is reported by the property it
    /// breaks), then each node's own invariants and contracts.
    fn check(&self) -> Check {
        let views: Vec<NodeView<'_>> = self.servers.iter().map(|s| s.node.view()).collect();
        for p in invariants::always(ProtocolKind::Raft) {
            if !p.holds_on(&views, &self.history) {
                return Err(format!("{} violated", p.name));
            }
        }
        for s in &self.servers {
            let n = &s.node;
            n.validate().map_err(|e| format!("{}: {e}", n.id))?;
            // Everything in memory that must survive a crash is on disk.
            let in_memory = Durable {
                hard: n.hard,
                log: n.log.entries().to_vec(),
            };
            if self.contracts && s.durable != in_memory {
                return Err(format!(
                    "{}: durable {:?} != in memory {:?}",
                    n.id, s.durable, in_memory
                ));
            }
            let want = if n.is_leader() {
                Timer::Heartbeat
            } else {
                Timer::Election
            };
            if s.timers != BTreeSet::from([want]) {
                return Err(format!("{}: armed {:?}, role {:?}", n.id, s.timers, n.role));
            }
        }
        Ok(())
    }

    /// The trace so far and every node's state, for a failure report.
    fn describe(&self) -> String {
        let mut s = String::from("\ntrace:");
        for line in &self.trace {
            s += &format!("\n  {line}");
        }
        s += "\nnodes:";
        for srv in &self.servers {
            let n = &srv.node;
            let log: Vec<String> = n.log.entries().iter().map(|e| e.to_string()).collect();
            s += &format!(
                "\n  {} {:?} commit {} log [{}]",
                n.id,
                n.hard,
                n.commit,
                log.join(" ")
            );
        }
        s += &format!("\n  pending {}", self.network.len());
        s
    }
}

/// A server applies the entry after the last one it applied, only once it
/// is committed, and the same entry as every server did at that index.
fn check_apply(
    s: &Server,
    applied: &mut BTreeMap<LogIndex, Entry>,
    index: LogIndex,
    entry: &Entry,
) -> Check {
    let me = s.node.id;
    if index != s.applied.next() {
        return Err(format!("{me} applies {index} after {}", s.applied));
    }
    if index > s.node.commit || s.node.log.get(index) != Some(entry) {
        return Err(format!("{me} applies {entry} at {index}, not committed"));
    }
    let first = applied.entry(index).or_insert_with(|| entry.clone());
    if first != entry {
        return Err(format!("{me} applies {entry} at {index}, others {first}"));
    }
    Ok(())
}

/// What a message claims must already be on the sender's disk.
fn durable_before_send(me: NodeId, d: &Durable, to: NodeId, msg: &Message) -> Check {
    if let Some(term) = msg.term() {
        if d.hard.term != term {
            return Err(format!("term {term} not persisted ({})", d.hard.term));
        }
    }
    match msg {
        Message::RequestVote(m) => {
            let last = d.log.last().map_or(Term(0), |e| e.term);
            if d.hard.voted_for != Some(me) {
                return Err("self-vote not persisted".into());
            }
            if m.last_log_index.0 != d.log.len() as u64 || m.last_log_term != last {
                return Err("claims a log that is not on disk".into());
            }
        }
        Message::VoteResponse(m) if m.granted && d.hard.voted_for != Some(to) => {
            return Err("grants a vote that is not persisted".into());
        }
        Message::AppendEntries(m) => {
            if d.term_at(m.prev_log_index) != Some(m.prev_log_term) {
                return Err("prev entry not on disk".into());
            }
            for (k, e) in m.entries.iter().enumerate() {
                let at = m.prev_log_index.0 as usize + k;
                if d.log.get(at) != Some(e) {
                    return Err(format!("entry {} not on disk", at + 1));
                }
            }
        }
        Message::AppendResponse(m) if m.success && m.match_index.0 > d.log.len() as u64 => {
            return Err("acknowledges entries that are not on disk".into());
        }
        _ => {}
    }
    Ok(())
}

fn run_schedule(cfg: &Arc<Config>, ops: &[Op]) -> Result<Seen, TestCaseError> {
    let mut cluster = Cluster::new(cfg.clone()).map_err(TestCaseError::fail)?;
    for (k, op) in ops.iter().enumerate() {
        cluster
            .run(op)
            .and_then(|()| cluster.check())
            .map_err(|e| {
                TestCaseError::fail(format!("step {k} ({op:?}): {e}{}", cluster.describe()))
            })?;
    }
    Ok(cluster.seen)
}

fn cluster_config(bugs: &[Bug]) -> Arc<Config> {
    let mut cfg = Config::new((0..NODES as u32).map(NodeId));
    cfg.bugs.extend(bugs.iter().copied());
    Arc::new(cfg)
}

/// A runner of `cases` schedules, seeded with [`SEED`] unless
/// `PROPTEST_RNG_SEED` says otherwise; returns it and whether the seed is
/// the default one.
fn runner(cases: u32) -> (TestRunner, bool) {
    let base = RunnerConfig::default();
    let default_seed = matches!(base.rng_seed, RngSeed::Random);
    let config = RunnerConfig {
        cases,
        failure_persistence: None,
        rng_seed: if default_seed {
            RngSeed::Fixed(SEED)
        } else {
            base.rng_seed
        },
        ..base
    };
    (TestRunner::new(config), default_seed)
}

#[test]
fn random_schedules_keep_a_three_node_cluster_safe() {
    let cfg = cluster_config(&[]);
    let (mut runner, default_seed) = runner(CASES);
    let totals = Cell::new([0u32; 4]);
    let result = runner.run(&schedule(), |ops| {
        let seen = run_schedule(&cfg, &ops)?;
        let mut t = totals.get();
        let hits = [seen.commit, seen.reply, seen.truncate, seen.later_leader];
        for (k, hit) in hits.into_iter().enumerate() {
            t[k] += u32::from(hit);
        }
        totals.set(t);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The schedules reach the interesting states often enough for the
    // property to mean something. Commits, replies and leaders after term 1
    // are common (a quarter of the schedules or more); a conflict truncated
    // by a new leader is rare (about one schedule in a hundred), so it is
    // required only of the default seed, where it is deterministic.
    let [commit, reply, truncate, later_leader] = totals.get();
    let common = CASES / 10;
    assert!(commit >= common, "only {commit} schedules committed");
    assert!(reply >= common, "only {reply} schedules replied");
    assert!(
        later_leader >= common,
        "only {later_leader} had a later leader"
    );
    assert!(
        truncate >= 1 || !default_seed,
        "no schedule truncated a log"
    );
}

/// The harness has teeth: with a catalogued bug switched on, random
/// schedules find a violation, and it is the one the catalogue predicts.
/// `commit-previous-term` is left out: it needs a scenario like the paper's
/// Figure 8 (several elections, in a precise order), which none of 15,000
/// random schedules of this length reached.
#[test]
fn random_schedules_catch_catalogued_raft_bugs() {
    // What is reported first: the catalogue's property, except that a log
    // overwritten in place usually breaks a node's own `validate()` (terms
    // decrease along the log) before two logs are seen to disagree.
    let expected: &[(Bug, &[&str])] = &[
        (Bug::VoteWithoutLogCheck, &["leader-completeness"]),
        (Bug::UnpersistedVote, &["election-safety"]),
        (
            Bug::NoTruncateOnConflict,
            &["log-matching", "log terms decrease"],
        ),
    ];
    for &(bug, reports) in expected {
        assert!(
            reports[0] == bug.info().breaks.name,
            "{bug:?}: catalogue changed"
        );
        let cfg = cluster_config(&[bug]);
        let (mut runner, _) = runner(BUG_CASES);
        match runner.run(&schedule(), |ops| run_schedule(&cfg, &ops).map(|_| ())) {
            Ok(()) => panic!("{bug:?}: no violation in {BUG_CASES} schedules"),
            Err(TestError::Fail(reason, ops)) => {
                let reason = reason.message();
                assert!(
                    reports.iter().any(|r| reason.contains(r)),
                    "{bug:?} reported as: {reason}"
                );
                eprintln!("{bug:?}: {reason}\n{} ops", ops.len());
            }
            Err(e) => panic!("{bug:?}: {e}"),
        }
    }
}
