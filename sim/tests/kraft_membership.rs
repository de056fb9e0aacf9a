//! KRaft membership change on a small cluster (moved here from the
//! hand-built simulator of `specs/src/kraft/membership_tests.rs`): every
//! message is delivered in order and nothing is lost unless a test cuts a
//! node off, so each test reads as a scenario. Timers fire only when a test
//! fires them, and only if armed. The harness checks every step
//! (`validate`, every safety property, membership change's included, and
//! the action contracts).

use kraftwerk_sim::Cluster;
use kraftwerk_specs::bugs::Bug;
use kraftwerk_specs::kraft::{Config, Node, State};
use kraftwerk_specs::membership::{Mode, Refusal, VoterChange};
use kraftwerk_specs::message::Message;
use kraftwerk_specs::node::{Input, Timer};
use kraftwerk_specs::protocol::{AnyConfig, AnyNode};
use kraftwerk_specs::quorum::{Majority, Quorum};
use kraftwerk_specs::types::{LogIndex, NodeId, RequestId, Term};
use std::collections::BTreeSet;
use std::sync::Arc;

fn ids(v: &[u32]) -> Vec<NodeId> {
    v.iter().map(|&i| NodeId(i)).collect()
}

fn simple(v: &[u32]) -> Quorum {
    Quorum::simple(ids(v))
}

fn joint(old: &[u32], new: &[u32]) -> Quorum {
    Quorum::Joint {
        old: Majority::new(ids(old)),
        new: Majority::new(ids(new)),
    }
}

fn req(seq: u64) -> RequestId {
    RequestId { client: 7, seq }
}

fn add(id: u32) -> VoterChange {
    VoterChange::Add(NodeId(id))
}

fn remove(id: u32) -> VoterChange {
    VoterChange::Remove(NodeId(id))
}

/// The harness's cluster with the vocabulary of these scenarios.
struct K {
    c: Cluster,
    /// Cut off: messages to and from them are lost; they fetch no more.
    cut: BTreeSet<NodeId>,
    /// When set, failed checks are collected in `errors` instead of
    /// failing the test (to show that a catalogued bug breaks one).
    tolerate: bool,
    errors: Vec<String>,
}

impl K {
    /// Voters `voters`, observers `observers`, membership changes in `mode`.
    fn new(voters: &[u32], observers: &[u32], mode: Mode) -> K {
        K::with(voters, observers, |c| c.reconfig = mode)
    }

    fn with(voters: &[u32], observers: &[u32], change: impl FnOnce(&mut Config)) -> K {
        let mut cfg = Config::new(ids(voters), ids(observers));
        change(&mut cfg);
        assert_eq!(cfg.validate(), Ok(()));
        let all: Vec<NodeId> = ids(voters).into_iter().chain(ids(observers)).collect();
        let c = Cluster::new(AnyConfig::Kraft(Arc::new(cfg)), &all).expect("start");
        K {
            c,
            cut: BTreeSet::new(),
            tolerate: false,
            errors: Vec::new(),
        }
    }

    fn ok(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            assert!(self.tolerate, "{e}{}", self.c.describe());
            self.errors.push(e);
        }
    }

    fn broken(&self) -> Vec<&str> {
        self.errors.iter().map(|e| e.as_str()).collect()
    }

    fn node(&self, id: u32) -> &Node {
        match self.c.node(NodeId(id)) {
            AnyNode::Kraft(n) => n,
            AnyNode::Raft(_) => unreachable!("a KRaft cluster"),
        }
    }

    fn conf(&self, id: u32) -> &Quorum {
        &self.node(id).conf.quorum
    }

    fn armed(&self, id: u32, t: Timer) -> bool {
        self.c.server(NodeId(id)).timers.contains(&t)
    }

    fn replies(&self) -> Vec<RequestId> {
        self.c.replies()
    }

    /// True when some leader answered `request` (a later leader may answer
    /// it again when its own high watermark passes it).
    fn replied(&self, request: RequestId) -> bool {
        self.c.replied(request)
    }

    fn refusals(&self) -> Vec<Refusal> {
        self.c.refusals()
    }

    /// True when the leader of `epoch` resigned (sent EndQuorumEpoch).
    fn resigned(&self, epoch: u64) -> bool {
        self.c.history.resigned.contains(&Term(epoch))
    }

    /// The leader of the highest epoch, if any.
    fn leader(&self) -> Option<u32> {
        self.c.leader().map(|id| id.0)
    }

    /// Cuts `id` off from everyone.
    fn cut(&mut self, id: u32) {
        self.cut.insert(NodeId(id));
        let rest: BTreeSet<NodeId> = self
            .c
            .ids()
            .into_iter()
            .filter(|n| !self.cut.contains(n))
            .collect();
        self.c.partition(vec![rest]);
    }

    fn input(&mut self, id: NodeId, input: Input) {
        let r = self.c.step(id, input);
        self.ok(r);
    }

    fn deliver_first(&mut self) {
        assert!(!self.c.network.is_empty(), "votes in flight");
        let r = self.c.deliver_at(0, false);
        self.ok(r);
    }

    /// Fires timer `t` of `id` if it is armed.
    fn fire(&mut self, id: u32, t: Timer) {
        let r = self.c.fire(NodeId(id), t).map(|_| ());
        self.ok(r);
    }

    fn settle(&mut self) {
        while !self.c.network.is_empty() {
            self.deliver_first();
        }
    }

    /// Every node that is not cut off fires its fetch timer (if armed), and
    /// everything is delivered: followers acknowledge, the high watermark
    /// moves, and they learn it on the next round.
    fn fetch_round(&mut self) {
        for id in self.c.ids() {
            if !self.cut.contains(&id) {
                self.fire(id.0, Timer::Fetch);
                self.settle();
            }
        }
    }

    fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            self.fetch_round();
        }
    }

    /// `id` campaigns and wins; a few fetch rounds commit its
    /// leader-change record everywhere.
    fn elect(&mut self, id: u32) {
        self.fire(id, Timer::Election);
        self.settle();
        assert!(self.node(id).is_leader(), "{:?}", self.node(id));
        self.rounds(3);
    }

    fn request(&mut self, leader: u32, seq: u64, changes: Vec<VoterChange>) {
        let r = self.c.change(NodeId(leader), req(seq), changes);
        self.ok(r);
    }

    /// Asks `leader` for `changes` and lets the cluster fetch until done.
    fn change(&mut self, leader: u32, seq: u64, changes: Vec<VoterChange>) {
        self.request(leader, seq, changes);
        self.settle();
        self.rounds(4);
    }
}

#[test]
fn joint_add_then_remove_the_leader_resigns_and_the_added_voter_votes() {
    let mut c = K::new(&[0, 1, 2], &[3], Mode::Joint);
    c.elect(0);
    // The observer n3 found the leader and replicates before it votes.
    assert_eq!(c.node(3).state, State::Follower { leader: NodeId(0) });
    assert_eq!(c.node(3).high_watermark, LogIndex(1));
    assert!(!c.node(3).is_voter() && !c.armed(3, Timer::Election));

    c.request(0, 0, vec![add(3)]);
    // C_old,new takes effect on append, committed or not.
    assert_eq!(c.conf(0), &joint(&[0, 1, 2], &[0, 1, 2, 3]));
    assert!(c.replies().is_empty());
    c.settle();
    c.rounds(4);
    for id in 0..4 {
        assert_eq!(c.conf(id), &simple(&[0, 1, 2, 3]), "n{id}");
        assert_eq!(c.node(id).high_watermark, LogIndex(3), "n{id}");
    }
    let log = &c.node(1).log;
    assert_eq!(
        log.get(LogIndex(2)).unwrap().config(),
        Some(&joint(&[0, 1, 2], &[0, 1, 2, 3]))
    );
    // One reply, when the final configuration committed.
    assert_eq!(c.replies(), vec![req(0)]);
    // n3 is a voter now: it has an election timer, and the leader counts it.
    assert!(c.node(3).is_voter() && c.armed(3, Timer::Election));
    let State::Leader(l) = &c.node(0).state else {
        panic!("n0 leads");
    };
    assert!(l.end_offsets.contains_key(&NodeId(3)));
    // A retried request is answered again, not appended again.
    c.request(0, 0, vec![add(3)]);
    assert_eq!(c.replies(), vec![req(0), req(0)]);
    assert_eq!(c.node(0).log.last_index(), LogIndex(3));

    // Remove the leader itself: it leads C_old,new and C_new (counting only
    // the others for C_new), then resigns once C_new commits.
    c.request(0, 1, vec![remove(0)]);
    c.settle();
    while !c.resigned(1) {
        assert!(c.node(0).is_leader());
        c.fetch_round();
    }
    assert_eq!(c.node(0).state, State::Resigned);
    assert!(c.replied(req(1)));
    assert_eq!(c.conf(0), &simple(&[1, 2, 3]));
    assert!(!c.node(0).is_voter());
    assert!(!c.armed(0, Timer::Heartbeat) && !c.armed(0, Timer::Election));
    assert!(c.armed(0, Timer::Fetch));
    // Its EndQuorumEpoch ranks n2 and n3 first, together (both hold C_new;
    // n1 had fetched less), so neither campaigns at once; the first
    // election timer to fire (n2's) wins.
    assert_eq!(c.leader(), None);
    for id in 1..4 {
        assert_eq!(
            c.node(id).state,
            State::Follower { leader: NodeId(0) },
            "n{id}"
        );
    }
    assert!(c.node(1).log.last_index() < c.node(2).log.last_index());
    assert_eq!(c.node(2).log.last_index(), c.node(3).log.last_index());
    c.fire(2, Timer::Election);
    c.settle();
    c.rounds(3);
    let l2 = c.leader().expect("a leader of epoch 2");
    assert_ne!(l2, 0);
    assert_eq!(c.node(l2).epoch(), Term(2));
    for id in 0..4 {
        assert_eq!(c.conf(id), &simple(&[1, 2, 3]), "n{id}");
    }
    // n0 never campaigns again; it fetches as an observer and finds the
    // new leader.
    assert!(!c.armed(0, Timer::Election));
    assert_eq!(c.node(0).state, State::Follower { leader: NodeId(l2) });
    assert_eq!(c.node(0).log, c.node(l2).log);
    // A later election that only the added voter's vote can decide: the
    // leader is cut off, and of {n1, n2, n3} the candidate needs n3.
    let candidate = if l2 == 1 { 2 } else { 1 };
    c.c.network.clear();
    c.cut(l2);
    if l2 == 3 {
        // n3 itself won epoch 2: the added voter already took part.
        c.cut(if candidate == 1 { 2 } else { 1 });
    }
    c.fire(candidate, Timer::Election);
    c.settle();
    assert_eq!(c.leader(), Some(candidate));
    assert_eq!(c.node(candidate).epoch(), Term(3));
    if l2 != 3 {
        assert_eq!(c.node(3).hard.voted_for, Some(NodeId(candidate)));
    }
}

#[test]
fn the_removed_leader_sends_end_quorum_epoch_and_a_tied_voter_campaigns_on_its_timer() {
    let mut c = K::new(&[0, 1, 2], &[], Mode::Joint);
    c.elect(0);
    // The request as a message: a follower ignores it, the leader takes it.
    let msg = Message::MembershipRequest(kraftwerk_specs::message::MembershipRequest {
        request: req(0),
        changes: vec![remove(0)],
    });
    let admin = NodeId(9);
    c.input(
        NodeId(1),
        Input::Receive {
            from: admin,
            msg: msg.clone(),
        },
    );
    assert_eq!(c.node(1).log.last_index(), LogIndex(1));
    assert!(c.refusals().is_empty());
    c.input(NodeId(0), Input::Receive { from: admin, msg });
    assert_eq!(c.conf(0), &joint(&[0, 1, 2], &[1, 2]));
    c.settle();
    // The voters fetch the joint configuration, then C_new, whose commit
    // makes n0 resign. EndQuorumEpoch ranks n1 and n2 together (both
    // caught up), so neither campaigns at once (both would: each would
    // vote for itself and split epoch 2); the first election timer to fire
    // (n2's) wins.
    c.rounds(4);
    assert!(c.resigned(1));
    assert!(c.replied(req(0)));
    assert_eq!(c.leader(), None);
    c.fire(2, Timer::Election);
    c.settle();
    c.rounds(1);
    let l2 = c.leader().expect("a leader of epoch 2");
    assert_ne!(l2, 0);
    assert_eq!(c.node(l2).epoch(), Term(2));
    assert_eq!(c.conf(l2), &simple(&[1, 2]));
    // The removed node follows it as an observer.
    assert_eq!(c.node(0).state, State::Follower { leader: NodeId(l2) });
    assert!(!c.node(0).is_voter());
}

#[test]
fn single_mode_refuses_until_the_leader_change_record_commits() {
    let mut c = K::new(&[0, 1, 2], &[3], Mode::Single);
    c.fire(0, Timer::Election);
    // Deliver only until n0 leads: its leader-change record is not
    // committed, it knows no high watermark in its epoch.
    while !c.node(0).is_leader() {
        c.deliver_first();
    }
    c.request(0, 0, vec![add(3)]);
    assert_eq!(c.refusals(), vec![Refusal::NoCommitInTerm]);
    assert_eq!(c.node(0).log.last_index(), LogIndex(1));
    c.settle();
    c.rounds(3);
    let State::Leader(l) = &c.node(0).state else {
        panic!("n0 leads");
    };
    assert_eq!(l.high_watermark, Some(LogIndex(1)));
    c.request(0, 1, vec![add(3), remove(0)]);
    assert_eq!(c.refusals().last(), Some(&Refusal::NotSingle));
    // One voter at a time: the new set at once, no joint step.
    c.request(0, 2, vec![add(3)]);
    assert_eq!(c.conf(0), &simple(&[0, 1, 2, 3]));
    // A second change while the first is uncommitted is refused.
    c.request(0, 3, vec![remove(1)]);
    assert_eq!(c.refusals().last(), Some(&Refusal::ChangePending));
    c.settle();
    c.rounds(4);
    assert_eq!(c.replies(), vec![req(2)]);
    assert_eq!(c.conf(3), &simple(&[0, 1, 2, 3]));
    c.change(0, 4, vec![remove(0)]);
    assert_eq!(c.conf(2), &simple(&[1, 2, 3]));
    assert!(c.replied(req(4)));
    assert!(c.resigned(1) && !c.node(0).is_leader());
    assert_eq!(c.refusals().len(), 3);
}

#[test]
fn single_mode_with_the_bug_appends_before_the_leader_change_record_commits() {
    let mut c = K::with(&[0, 1, 2], &[3], |c| {
        c.reconfig = Mode::Single;
        c.bugs.insert(Bug::SingleChangeWithoutTermCommit);
    });
    c.fire(0, Timer::Election);
    while !c.node(0).is_leader() {
        c.deliver_first();
    }
    c.request(0, 0, vec![add(3)]);
    assert!(c.refusals().is_empty());
    assert_eq!(c.conf(0), &simple(&[0, 1, 2, 3]));
}

#[test]
fn a_single_voter_adds_a_voter_and_starts_its_leader_timers() {
    let mut c = K::with(&[0], &[1], |c| c.check_quorum = true);
    c.elect(0);
    assert!(!c.armed(0, Timer::Heartbeat) && !c.armed(0, Timer::CheckQuorum));
    c.change(0, 0, vec![add(1)]);
    assert_eq!(c.conf(0), &simple(&[0, 1]));
    assert_eq!(c.conf(1), &simple(&[0, 1]));
    assert_eq!(c.replies(), vec![req(0)]);
    assert!(c.armed(0, Timer::Heartbeat) && c.armed(0, Timer::CheckQuorum));
    assert!(c.armed(1, Timer::Election));
    // From now on the leader needs n1: cut off, nothing commits.
    c.cut(1);
    let hwm = c.node(0).high_watermark;
    c.input(
        NodeId(0),
        Input::Propose {
            request: req(9),
            data: vec![],
        },
    );
    assert_eq!(c.node(0).high_watermark, hwm);
}

/// The high watermark under joint consensus: n1 and n2 are cut off, so
/// C_old,new commits only when the old half is skipped (the vote half of
/// this test is a unit test in `specs/src/kraft/membership_tests.rs`).
#[test]
fn joint_skip_old_majority_changes_the_high_watermark() {
    for bug in [false, true] {
        let mut c = K::with(&[0, 1, 2], &[3, 4], |c| {
            if bug {
                c.bugs.insert(Bug::JointSkipOldMajority);
            }
        });
        c.tolerate = bug;
        c.elect(0);
        c.cut(1);
        c.cut(2);
        c.change(0, 0, vec![add(3), add(4), remove(1), remove(2)]);
        if bug {
            // C_new followed a C_old,new that C_old never held: two
            // uncommitted configurations in one log, as catalogued.
            assert_eq!(c.conf(0), &simple(&[0, 3, 4]));
            assert_eq!(c.replies(), vec![req(0)]);
            assert_eq!(c.broken(), vec!["one-uncommitted-config violated"]);
        } else {
            assert_eq!(c.conf(0), &joint(&[0, 1, 2], &[0, 3, 4]));
            assert_eq!(c.node(0).high_watermark, LogIndex(1));
            assert!(c.replies().is_empty());
        }
    }
}
