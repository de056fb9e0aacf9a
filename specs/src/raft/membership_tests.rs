//! Membership change on a small in-memory Raft cluster: every message is
//! delivered in order, nothing is lost, so each test reads as a scenario.
//! The exhaustive checks are the model's (`kraftwerk check --reconfig`).

use super::*;
use crate::membership::{Refusal, VoterChange};
use crate::quorum::Quorum;
use crate::types::Payload;
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
            .map(|id| (id, Node::new(id, cfg.clone(), &mut Vec::new())))
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
        node.step(input, &mut out);
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
    let mut n = Node::new(NodeId(1), cfg, &mut Vec::new());
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
    n.step(recv0(ae(1, vec![joint.clone()])), &mut out);
    assert!(n.conf.is_joint());
    let other = Entry {
        term: Term(2),
        payload: Payload::Noop,
    };
    n.step(recv0(ae(2, vec![other])), &mut out);
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
