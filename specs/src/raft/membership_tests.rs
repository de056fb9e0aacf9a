//! Membership change on a small in-memory Raft cluster: every message is
//! delivered in order, nothing is lost, so each test reads as a scenario.
//! The exhaustive checks are the model's (`kraftwerk check --reconfig`).

use super::*;
use crate::membership::{Refusal, VoterChange};
use crate::quorum::Quorum;
use crate::types::{Payload, RequestId};
use std::collections::VecDeque;

struct Cluster {
    nodes: BTreeMap<NodeId, Node>,
    queue: VecDeque<(NodeId, NodeId, Message)>,
    replies: Vec<RequestId>,
    refusals: Vec<Refusal>,
}

fn ids(v: &[u32]) -> Vec<NodeId> {
    v.iter().map(|&i| NodeId(i)).collect()
}

impl Cluster {
    /// Voters `voters`, every server in `servers`, leader no-op on.
    fn new(voters: &[u32], servers: &[u32], mode: Mode) -> Cluster {
        let mut cfg = Config::new(ids(voters));
        cfg.servers = ids(servers);
        cfg.reconfig = mode;
        cfg.leader_noop = true;
        let cfg = Arc::new(cfg);
        let nodes = ids(servers)
            .into_iter()
            .map(|id| (id, Node::new(id, cfg.clone()).0))
            .collect();
        Cluster {
            nodes,
            queue: VecDeque::new(),
            replies: Vec::new(),
            refusals: Vec::new(),
        }
    }

    fn input(&mut self, id: NodeId, input: Input) {
        let mut out = Vec::new();
        let node = self.nodes.get_mut(&id).expect("known node");
        out.extend(node.step(input));
        assert_eq!(node.validate(), Ok(()));
        for a in out {
            match a {
                Action::Send { to, msg } => self.queue.push_back((id, to, msg)),
                Action::Reply { request, .. } => self.replies.push(request),
                Action::Refuse { reason, .. } => self.refusals.push(reason),
                _ => {}
            }
        }
    }

    fn settle(&mut self) {
        while let Some((from, to, msg)) = self.queue.pop_front() {
            self.input(to, Input::Receive { from, msg });
        }
    }

    fn elect(&mut self, id: u32) {
        self.input(NodeId(id), Input::Timeout(Timer::Election));
        self.settle();
        assert!(self.nodes[&NodeId(id)].is_leader());
        // One heartbeat round spreads the commit index.
        self.input(NodeId(id), Input::Timeout(Timer::Heartbeat));
        self.settle();
    }

    fn change(&mut self, leader: u32, seq: u64, changes: Vec<VoterChange>) {
        let request = RequestId { client: 7, seq };
        self.input(NodeId(leader), Input::ChangeMembership { request, changes });
        self.settle();
        self.input(NodeId(leader), Input::Timeout(Timer::Heartbeat));
        self.settle();
    }

    fn conf(&self, id: u32) -> &Quorum {
        &self.nodes[&NodeId(id)].conf.quorum
    }
}

fn simple(v: &[u32]) -> Quorum {
    Quorum::simple(ids(v))
}

#[test]
fn joint_consensus_adds_then_removes_and_the_removed_leader_steps_down() {
    let mut c = Cluster::new(&[0, 1, 2], &[0, 1, 2, 3], Mode::Joint);
    c.elect(0);
    // The spare n3 is replicated to before it votes.
    assert_eq!(c.nodes[&NodeId(3)].log.last_index(), LogIndex(1));
    c.change(0, 0, vec![VoterChange::Add(NodeId(3))]);
    for id in 0..4 {
        assert_eq!(c.conf(id), &simple(&[0, 1, 2, 3]), "n{id}");
    }
    let log = &c.nodes[&NodeId(1)].log;
    assert!(log.get(LogIndex(2)).unwrap().config().unwrap().is_joint());
    assert_eq!(c.replies, vec![RequestId { client: 7, seq: 0 }]);
    c.change(0, 1, vec![VoterChange::Remove(NodeId(0))]);
    assert_eq!(c.conf(1), &simple(&[1, 2, 3]));
    assert!(
        !c.nodes[&NodeId(0)].is_leader(),
        "the removed leader steps down"
    );
    assert_eq!(c.replies.len(), 2);
    // n0 is no voter any more: its timeout does nothing; n3 now votes.
    c.input(NodeId(0), Input::Timeout(Timer::Election));
    assert!(c.queue.is_empty());
    c.elect(3);
    assert_eq!(c.nodes[&NodeId(3)].hard.term, Term(2));
}

#[test]
fn one_server_change_waits_for_a_commit_in_the_leaders_term() {
    let mut c = Cluster::new(&[0, 1, 2], &[0, 1, 2, 3], Mode::Single);
    c.input(NodeId(0), Input::Timeout(Timer::Election));
    // Deliver only until n0 leads: its no-op is not committed yet, so a
    // change is refused.
    while !c.nodes[&NodeId(0)].is_leader() {
        let (from, to, msg) = c.queue.pop_front().expect("votes in flight");
        c.input(to, Input::Receive { from, msg });
    }
    assert_eq!(c.nodes[&NodeId(0)].commit, LogIndex(0));
    let request = RequestId { client: 7, seq: 0 };
    let changes = vec![VoterChange::Add(NodeId(3))];
    c.input(NodeId(0), Input::ChangeMembership { request, changes });
    assert_eq!(c.refusals, vec![Refusal::NoCommitInTerm]);
    c.settle();
    c.input(NodeId(0), Input::Timeout(Timer::Heartbeat));
    c.settle();
    c.change(
        0,
        1,
        vec![VoterChange::Add(NodeId(3)), VoterChange::Remove(NodeId(0))],
    );
    assert_eq!(c.refusals.last(), Some(&Refusal::NotSingle));
    c.change(0, 2, vec![VoterChange::Add(NodeId(3))]);
    assert_eq!(c.conf(2), &simple(&[0, 1, 2, 3]));
    c.change(0, 3, vec![VoterChange::Remove(NodeId(0))]);
    assert_eq!(c.conf(2), &simple(&[1, 2, 3]));
    assert!(!c.nodes[&NodeId(0)].is_leader());
}

#[test]
fn truncating_a_configuration_restores_the_previous_one() {
    let cfg = Arc::new(Config::new(ids(&[0, 1, 2])));
    let mut n = Node::new(NodeId(1), cfg).0;
    let joint = Entry {
        term: Term(1),
        payload: Payload::Config {
            request: RequestId { client: 7, seq: 0 },
            quorum: Quorum::Joint {
                old: Majority::new(ids(&[0, 1, 2])),
                new: Majority::new(ids(&[1, 2, 3])),
            },
        },
    };
    let mut out = Vec::new();
    let ae = |term, entries: Vec<Entry>| {
        Message::AppendEntries(crate::message::AppendEntries {
            term: Term(term),
            prev_log_index: LogIndex(0),
            prev_log_term: Term(0),
            entries,
            leader_commit: LogIndex(0),
        })
    };
    out.extend(n.step(recv0(ae(1, vec![joint.clone()]))));
    assert!(n.conf.is_joint());
    let other = Entry {
        term: Term(2),
        payload: Payload::Noop,
    };
    out.extend(n.step(recv0(ae(2, vec![other]))));
    assert_eq!(n.conf.quorum, simple(&[0, 1, 2]));
    assert_eq!(n.conf.index, LogIndex(0));
    assert_eq!(n.validate(), Ok(()));
}

fn recv0(msg: Message) -> Input {
    Input::Receive {
        from: NodeId(0),
        msg,
    }
}

impl Cluster {
    /// Delivers the first queued message from `from` to `to`, if any.
    fn deliver(&mut self, from: u32, to: u32) {
        let pos = self
            .queue
            .iter()
            .position(|(f, t, _)| *f == NodeId(from) && *t == NodeId(to))
            .unwrap_or_else(|| panic!("no message n{from} → n{to} in flight"));
        let (f, t, msg) = self.queue.remove(pos).expect("present");
        self.input(t, Input::Receive { from: f, msg });
    }

    /// Drops every message in flight (a network may lose or delay them).
    fn drop_all(&mut self) {
        self.queue.clear();
    }
}

// ANCHOR: raft_dev_2015
/// The raft-dev bug of July 2015, step by step on four voters {0,1,2,3}:
/// the term-1 leader n0 appends D = {0,1,3}; n1 wins term 2 under the old
/// configuration and, with the bug, appends E = {0,1,2} before anything
/// of its term is committed; E's majority {1,2} commits it; n0 then wins
/// term 3 with D's majority {0,3} without E. With the fix, n1 refuses E.
fn raft_dev_2015(bug: bool) -> (Cluster, bool) {
    let mut c = Cluster::new(&[0, 1, 2, 3], &[0, 1, 2, 3], Mode::Single);
    let mut cfg = (*c.nodes[&NodeId(0)].cfg).clone();
    if bug {
        cfg.bugs.insert(Bug::SingleChangeWithoutTermCommit);
    }
    let cfg = Arc::new(cfg);
    for n in c.nodes.values_mut() {
        n.cfg = cfg.clone();
    }
    let d = RequestId { client: 7, seq: 0 };
    let e = RequestId { client: 7, seq: 1 };
    // Term 1: n0 elected by n1 and n2; it appends D (the bug lets it skip
    // committing its no-op first) and nothing reaches anyone.
    c.input(NodeId(0), Input::Timeout(Timer::Election));
    c.deliver(0, 1);
    c.deliver(0, 2);
    c.deliver(1, 0);
    c.deliver(2, 0);
    assert!(c.nodes[&NodeId(0)].is_leader());
    let remove = |n| vec![VoterChange::Remove(NodeId(n))];
    c.input(
        NodeId(0),
        Input::ChangeMembership {
            request: d,
            changes: remove(2),
        },
    );
    c.drop_all();
    // Term 2: n1 elected by n2 and n3 under {0,1,2,3}; it appends E.
    c.input(NodeId(1), Input::Timeout(Timer::Election));
    c.deliver(1, 0); // n0 learns term 2 and refuses (its log is longer)
    c.deliver(1, 2);
    c.deliver(1, 3);
    c.deliver(2, 1);
    c.deliver(3, 1);
    assert!(c.nodes[&NodeId(1)].is_leader());
    c.input(
        NodeId(1),
        Input::ChangeMembership {
            request: e,
            changes: remove(3),
        },
    );
    let appended = c.nodes[&NodeId(1)].conf.quorum == simple(&[0, 1, 2]);
    // Only n2 hears from n1 (n0 and n3 are cut off).
    c.queue.retain(|(_, to, _)| *to == NodeId(2));
    c.settle();
    c.drop_all();
    // Term 3: n0, still in D = {0,1,3} if it appended it, asks n1 and n3.
    c.input(NodeId(0), Input::Timeout(Timer::Election));
    c.queue.retain(|(_, to, _)| *to == NodeId(3));
    c.settle();
    (c, appended)
}
// ANCHOR_END: raft_dev_2015

// ANCHOR: raft_dev_2015_tests
#[test]
fn raft_dev_2015_bug_loses_a_committed_configuration() {
    let (c, appended) = raft_dev_2015(true);
    assert!(appended);
    // E was acknowledged in term 2; then n0 commits D in term 3 (on n0
    // and n3): two conflicting configurations were both acknowledged.
    assert_eq!(c.replies[0], RequestId { client: 7, seq: 1 }, "E committed");
    let n0 = &c.nodes[&NodeId(0)];
    assert!(n0.is_leader(), "n0 leads term 3 with D's majority {{0,3}}");
    assert_eq!(n0.hard.term, Term(3));
    let views: Vec<_> = c.nodes.values().map(|n| n.view()).collect();
    let mut history = crate::invariants::History::default();
    history
        .acked
        .insert((LogIndex(2), RequestId { client: 7, seq: 1 }), Term(2));
    assert!(!crate::invariants::leader_completeness(&views, &history));
}
// ANCHOR_END: raft_dev_2015_tests

#[test]
fn raft_dev_2015_fix_refuses_the_second_change() {
    let (c, appended) = raft_dev_2015(false);
    assert!(!appended);
    assert!(c.refusals.contains(&Refusal::NoCommitInTerm));
    assert!(c.replies.is_empty());
}
