//! Raft membership change on a small cluster where every message is
//! delivered in order and nothing is lost, so that each test reads as a
//! scenario (moved here from the hand-built simulator of
//! `specs/src/raft/membership_tests.rs`). The raft-dev 2015 schedule is a
//! scenario script: `sim/testdata/raft-dev-2015*.txt`. The exhaustive
//! checks are the model's (`kraftwerk check --reconfig`).

use kraftwerk_sim::Cluster;
use kraftwerk_specs::membership::{Mode, Refusal, VoterChange};
use kraftwerk_specs::node::{Input, Timer};
use kraftwerk_specs::protocol::AnyConfig;
use kraftwerk_specs::quorum::Quorum;
use kraftwerk_specs::raft::Config;
use kraftwerk_specs::types::{LogIndex, NodeId, RequestId, Term};
use std::sync::Arc;

fn ids(v: &[u32]) -> Vec<NodeId> {
    v.iter().map(|&i| NodeId(i)).collect()
}

fn simple(v: &[u32]) -> Quorum {
    Quorum::simple(ids(v))
}

/// Voters `voters`, every server in `servers`, leader no-op on.
fn cluster(voters: &[u32], servers: &[u32], mode: Mode) -> Cluster {
    let mut cfg = Config::new(ids(voters));
    cfg.servers = ids(servers);
    cfg.reconfig = mode;
    cfg.leader_noop = true;
    Cluster::new(AnyConfig::Raft(Arc::new(cfg)), &ids(servers)).expect("start")
}

fn settle(c: &mut Cluster) {
    c.stabilize(10_000)
        .unwrap_or_else(|e| panic!("{e}{}", c.describe()));
}

fn ok(c: &Cluster, r: Result<(), String>) {
    r.unwrap_or_else(|e| panic!("{e}{}", c.describe()));
}

fn elect(c: &mut Cluster, id: u32) {
    let r = c.force(NodeId(id), Timer::Election);
    ok(c, r);
    settle(c);
    assert!(c.node(NodeId(id)).is_leader());
    // One heartbeat round spreads the commit index.
    let r = c.force(NodeId(id), Timer::Heartbeat);
    ok(c, r);
    settle(c);
}

fn change(c: &mut Cluster, leader: u32, seq: u64, changes: Vec<VoterChange>) {
    let r = c.change(NodeId(leader), RequestId { client: 7, seq }, changes);
    ok(c, r);
    settle(c);
    let r = c.force(NodeId(leader), Timer::Heartbeat);
    ok(c, r);
    settle(c);
}

fn conf(c: &Cluster, id: u32) -> Quorum {
    c.node(NodeId(id)).view().voters.clone()
}

fn replies(c: &Cluster) -> Vec<RequestId> {
    c.replies()
}

#[test]
fn joint_consensus_adds_then_removes_and_the_removed_leader_steps_down() {
    let mut c = cluster(&[0, 1, 2], &[0, 1, 2, 3], Mode::Joint);
    elect(&mut c, 0);
    // The spare n3 is replicated to before it votes.
    assert_eq!(c.node(NodeId(3)).log().last_index(), LogIndex(1));
    change(&mut c, 0, 0, vec![VoterChange::Add(NodeId(3))]);
    for id in 0..4 {
        assert_eq!(conf(&c, id), simple(&[0, 1, 2, 3]), "n{id}");
    }
    let entry = c.node(NodeId(1)).log().get(LogIndex(2)).cloned();
    assert!(entry.unwrap().config().unwrap().is_joint());
    assert_eq!(replies(&c), vec![RequestId { client: 7, seq: 0 }]);
    change(&mut c, 0, 1, vec![VoterChange::Remove(NodeId(0))]);
    assert_eq!(conf(&c, 1), simple(&[1, 2, 3]));
    assert!(
        !c.node(NodeId(0)).is_leader(),
        "the removed leader steps down"
    );
    assert_eq!(replies(&c).len(), 2);
    // n0 is no voter any more: its timeout does nothing; n3 now votes.
    let r = c.force(NodeId(0), Timer::Election);
    ok(&c, r);
    assert!(c.network.is_empty());
    elect(&mut c, 3);
    assert_eq!(c.node(NodeId(3)).hard().term, Term(2));
}

#[test]
fn one_server_change_waits_for_a_commit_in_the_leaders_term() {
    let mut c = cluster(&[0, 1, 2], &[0, 1, 2, 3], Mode::Single);
    let r = c.force(NodeId(0), Timer::Election);
    ok(&c, r);
    // Deliver only until n0 leads: its no-op is not committed yet, so a
    // change is refused.
    while !c.node(NodeId(0)).is_leader() {
        assert!(!c.network.is_empty(), "votes in flight");
        let r = c.deliver_at(0, false);
        ok(&c, r);
    }
    assert_eq!(c.node(NodeId(0)).committed(), LogIndex(0));
    let request = RequestId { client: 7, seq: 0 };
    let changes = vec![VoterChange::Add(NodeId(3))];
    let r = c.step(NodeId(0), Input::ChangeMembership { request, changes });
    ok(&c, r);
    assert_eq!(c.refusals(), vec![Refusal::NoCommitInTerm]);
    settle(&mut c);
    let r = c.force(NodeId(0), Timer::Heartbeat);
    ok(&c, r);
    settle(&mut c);
    change(
        &mut c,
        0,
        1,
        vec![VoterChange::Add(NodeId(3)), VoterChange::Remove(NodeId(0))],
    );
    assert_eq!(c.refusals().last(), Some(&Refusal::NotSingle));
    change(&mut c, 0, 2, vec![VoterChange::Add(NodeId(3))]);
    assert_eq!(conf(&c, 2), simple(&[0, 1, 2, 3]));
    change(&mut c, 0, 3, vec![VoterChange::Remove(NodeId(0))]);
    assert_eq!(conf(&c, 2), simple(&[1, 2, 3]));
    assert!(!c.node(NodeId(0)).is_leader());
}
