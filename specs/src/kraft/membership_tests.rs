//! Membership change on one KRaft node, step by step. The scenarios on a
//! cluster (every message delivered in order, timers fired by the test)
//! and the seeded random schedules with membership changes run on the
//! harness crate: sim/tests/kraft_membership.rs and
//! sim/tests/kraft_random.rs.

use super::*;
use crate::fixtures::{config_record, ids, joint, noop, simple};
use crate::message::{DivergingEpoch, FetchResponse, KraftVoteResponse};
use crate::types::{Entry, Term};

fn answer(
    epoch: u64,
    leader: u32,
    at: (u64, u64),
    records: Vec<Entry>,
    diverging: Option<(u64, u64)>,
) -> Message {
    Message::FetchResponse(FetchResponse {
        epoch: Term(epoch),
        leader: Some(NodeId(leader)),
        error: None,
        fetch_offset: LogIndex(at.0),
        last_fetched_epoch: Term(at.1),
        records,
        high_watermark: None,
        diverging: diverging.map(|(e, o)| DivergingEpoch {
            epoch: Term(e),
            end_offset: LogIndex(o),
        }),
    })
}

fn step(node: &mut Node, from: u32, msg: Message) -> Vec<Action> {
    let from = NodeId(from);
    crate::fixtures::checked_step(node, Input::Receive { from, msg })
}

#[test]
fn truncation_restores_the_previous_configuration() {
    let cfg = Arc::new(Config::new(ids(&[0, 1, 2]), ids(&[3])));
    let boot = HardState {
        term: Term(1),
        voted_for: None,
        leader: Some(NodeId(0)),
    };
    let mut out = Vec::new();
    let mut n = {
        let (node, actions) = Node::restore(
            NodeId(3),
            cfg,
            Durable {
                hard: boot,
                log: Log::default(),
            },
        );
        out.extend(actions);
        node
    };
    assert_eq!(out, vec![Action::SetTimer(Timer::Fetch), fetch_at(0, 0, 1)]);
    // The observer n3 appends a C_old,new that adds it: it votes at once
    // (uncommitted), so it arms its election timer.
    let added = joint(&[0, 1, 2], &[0, 1, 2, 3]);
    let records = vec![noop(1), config_record(1, added.clone())];
    let out = step(&mut n, 0, answer(1, 0, (0, 0), records.clone(), None));
    assert_eq!(
        out,
        vec![
            Action::AppendLog(records),
            Action::SetTimer(Timer::Election),
            fetch_at(2, 1, 1),
        ]
    );
    assert_eq!((&n.conf.quorum, n.conf.index), (&added, LogIndex(2)));
    assert!(n.is_voter());
    // A new leader of epoch 2 never had it: n3 truncates it away and is an
    // observer again, under the bootstrap voters.
    step(
        &mut n,
        2,
        Message::BeginQuorumEpoch(crate::message::BeginQuorumEpoch { epoch: Term(2) }),
    );
    let out = step(&mut n, 2, answer(2, 2, (2, 1), vec![], Some((1, 1))));
    assert_eq!(
        out,
        vec![
            Action::TruncateLog { last: LogIndex(1) },
            Action::CancelTimer(Timer::Election),
            Action::Send {
                to: NodeId(2),
                msg: Message::Fetch(Fetch {
                    fetch_offset: LogIndex(1),
                    last_fetched_epoch: Term(1),
                    current_leader_epoch: Term(2),
                }),
            },
        ]
    );
    assert_eq!(
        (&n.conf.quorum, n.conf.index),
        (&simple(&[0, 1, 2]), LogIndex(0))
    );
    assert!(!n.is_voter());
    // A restart reads the configuration from the log too.
    let mut out = Vec::new();
    let r = {
        let (node, actions) = Node::restore(
            NodeId(3),
            n.cfg.clone(),
            Durable {
                hard: n.hard,
                log: n.log.clone(),
            },
        );
        out.extend(actions);
        node
    };
    assert_eq!(r.conf, n.conf);
}

fn fetch_at(offset: u64, last_epoch: u64, epoch: u64) -> Action {
    Action::Send {
        to: NodeId(0),
        msg: Message::Fetch(Fetch {
            fetch_offset: LogIndex(offset),
            last_fetched_epoch: Term(last_epoch),
            current_leader_epoch: Term(epoch),
        }),
    }
}

#[test]
fn a_restarted_node_takes_its_state_from_the_configuration_in_its_log() {
    let cfg = Arc::new(Config::new(ids(&[0, 1, 2]), ids(&[3])));
    let log = Log::from_entries(vec![noop(1), config_record(1, simple(&[1, 2, 3]))]);
    let self_vote = HardState {
        term: Term(2),
        voted_for: Some(NodeId(3)),
        leader: None,
    };
    // n3, added by the log's configuration, restarts as a candidate.
    let mut out = Vec::new();
    let n3 = {
        let (node, actions) = Node::restore(
            NodeId(3),
            cfg.clone(),
            Durable {
                hard: self_vote,
                log: log.clone(),
            },
        );
        out.extend(actions);
        node
    };
    assert!(matches!(n3.state, State::Candidate { .. }));
    assert_eq!(n3.validate(), Ok(()));
    // n0, removed by it after leading epoch 1, restarts resigned (it never
    // leads or votes in that epoch again) and fetches as an observer.
    let led = HardState {
        term: Term(1),
        voted_for: Some(NodeId(0)),
        leader: Some(NodeId(0)),
    };
    let mut out = Vec::new();
    let n0 = {
        let (node, actions) = Node::restore(NodeId(0), cfg, Durable { hard: led, log });
        out.extend(actions);
        node
    };
    assert_eq!(n0.state, State::Resigned);
    assert_eq!(n0.validate(), Ok(()));
    assert!(out.contains(&Action::SetTimer(Timer::Fetch)));
    assert!(!out.contains(&Action::SetTimer(Timer::Election)));
}

#[test]
fn joint_skip_old_majority_changes_the_counting() {
    for bug in [false, true] {
        // Votes: a candidate of joint{0,1,2|0,3,4} holding n3 and n4 has a
        // majority of the new half only.
        let mut cfg = Config::new(ids(&[0, 1, 2]), ids(&[3, 4]));
        if bug {
            cfg.bugs.insert(Bug::JointSkipOldMajority);
        }
        let cfg = Arc::new(cfg);
        let log = Log::from_entries(vec![
            noop(1),
            config_record(1, joint(&[0, 1, 2], &[0, 3, 4])),
        ]);
        let self_vote = HardState {
            term: Term(2),
            voted_for: Some(NodeId(3)),
            leader: None,
        };
        let mut out = Vec::new();
        let mut n3 = {
            let (node, actions) = Node::restore(
                NodeId(3),
                cfg,
                Durable {
                    hard: self_vote,
                    log,
                },
            );
            out.extend(actions);
            node
        };
        let asked: Vec<NodeId> = out
            .iter()
            .filter_map(|a| match a {
                Action::Send { to, .. } => Some(*to),
                _ => None,
            })
            .collect();
        assert_eq!(asked, ids(&[0, 1, 2, 4]), "both halves are asked");
        let granted = Message::KraftVoteResponse(KraftVoteResponse {
            epoch: Term(2),
            leader: None,
            granted: true,
            pre_vote: false,
        });
        step(&mut n3, 4, granted);
        assert_eq!(n3.is_leader(), bug, "bug {bug}");
    }
}
