//! Engine tests of the Raft node, after openraft's: build a node in a known
//! state, feed it one [`Input`], then assert both the exact actions it asks
//! for (order included: persist before send, apply before reply) and the
//! state it is left in. Every step goes through [`step`], which also runs
//! [`Node::validate`].
//!
//! Unless a test says otherwise the cluster is voters {1, 2, 3} and the node
//! under test is 1 when it leads or campaigns and 2 when it follows.

use super::*;
use crate::fixtures::{cmd, noop, propose, req};
use crate::message::{AppendEntries, AppendResponse, RequestVote, VoteResponse};

// ---- building blocks ---------------------------------------------------

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn cfg3() -> Arc<Config> {
    Arc::new(Config::new([N1, N2, N3]))
}

fn cfg3_with(bug: Bug) -> Arc<Config> {
    let mut cfg = Config::new([N1, N2, N3]);
    cfg.bugs.insert(bug);
    Arc::new(cfg)
}

fn hs(term: u64, voted_for: Option<NodeId>) -> HardState {
    HardState {
        term: Term(term),
        voted_for,
        leader: None,
    }
}

fn log(entries: &[Entry]) -> Log {
    Log::from_entries(entries.to_vec())
}

/// A node restarted from `hard` and `entries`: a follower knowing no leader.
fn restored(id: NodeId, cfg: Arc<Config>, hard: HardState, entries: &[Entry]) -> Node {
    let mut out = Vec::new();
    let node = {
        let (node, actions) = Node::restore(
            id,
            cfg,
            Durable {
                hard,
                log: log(entries),
            },
        );
        out.extend(actions);
        node
    };
    assert_eq!(out, vec![Action::SetTimer(Timer::Election)]);
    node.validate().unwrap();
    node
}

/// Feeds one input, checks the local invariants, returns the actions.
fn step(node: &mut Node, input: Input) -> Vec<Action> {
    crate::fixtures::checked_step(node, input)
}

fn recv(from: NodeId, msg: Message) -> Input {
    Input::Receive { from, msg }
}

fn send(to: NodeId, msg: Message) -> Action {
    Action::Send { to, msg }
}

fn request_vote(term: u64, last_index: u64, last_term: u64) -> Message {
    Message::RequestVote(RequestVote {
        term: Term(term),
        last_log_index: LogIndex(last_index),
        last_log_term: Term(last_term),
    })
}

fn vote_response(term: u64, granted: bool) -> Message {
    Message::VoteResponse(VoteResponse {
        term: Term(term),
        granted,
    })
}

fn append(term: u64, prev: (u64, u64), entries: &[Entry], commit: u64) -> Message {
    Message::AppendEntries(AppendEntries {
        term: Term(term),
        prev_log_index: LogIndex(prev.0),
        prev_log_term: Term(prev.1),
        entries: entries.to_vec(),
        leader_commit: LogIndex(commit),
    })
}

fn append_response(term: u64, success: bool, match_index: u64) -> Message {
    Message::AppendResponse(AppendResponse {
        term: Term(term),
        success,
        match_index: LogIndex(match_index),
    })
}

fn apply(index: u64, entry: Entry) -> Action {
    Action::Apply {
        index: LogIndex(index),
        entry,
    }
}

fn reply(seq: u64, index: u64, term: u64) -> Action {
    Action::Reply {
        request: req(seq),
        index: LogIndex(index),
        term: Term(term),
    }
}

fn progress(next: u64, matched: u64) -> Progress {
    Progress {
        next: LogIndex(next),
        matched: LogIndex(matched),
    }
}

fn progress_of(node: &Node) -> &BTreeMap<NodeId, Progress> {
    match &node.role {
        Role::Leader { progress } => progress,
        role => panic!("not a leader: {role:?}"),
    }
}

/// Node 1 as the candidate of `term` holding `entries` (it timed out at
/// `term - 1` and has its own vote only).
fn candidate(cfg: Arc<Config>, term: u64, entries: &[Entry]) -> Node {
    let mut n = restored(N1, cfg, hs(term - 1, None), entries);
    step(&mut n, Input::Timeout(Timer::Election));
    assert_eq!(n.hard, hs(term, Some(N1)));
    n
}

/// Node 1 as the fresh leader of `term` holding `entries` (elected with the
/// vote of node 2); every follower's progress is `next = last + 1`.
fn leader(cfg: Arc<Config>, term: u64, entries: &[Entry]) -> Node {
    let mut n = candidate(cfg, term, entries);
    step(&mut n, recv(N2, vote_response(term, true)));
    assert!(n.is_leader());
    n
}

// ---- election ----------------------------------------------------------

#[test]
fn election_timeout_persists_the_self_vote_before_asking_for_votes() {
    let mut n = restored(N1, cfg3(), hs(1, Some(N3)), &[noop(1)]);

    let out = step(&mut n, Input::Timeout(Timer::Election));

    let rv = request_vote(2, 1, 1);
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, Some(N1))),
            send(N2, rv.clone()),
            send(N3, rv),
            Action::SetTimer(Timer::Election),
        ]
    );
    assert_eq!(n.hard, hs(2, Some(N1)));
    assert_eq!(
        n.role,
        Role::Candidate {
            votes: BTreeSet::from([N1])
        }
    );
    assert_eq!(n.known_leader(), None);
}

#[test]
fn candidate_timing_out_starts_the_next_term() {
    let mut n = candidate(cfg3(), 2, &[]);
    let out = step(&mut n, Input::Timeout(Timer::Election));
    let rv = request_vote(3, 0, 0);
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, Some(N1))),
            send(N2, rv.clone()),
            send(N3, rv),
            Action::SetTimer(Timer::Election),
        ]
    );
    assert_eq!(n.hard, hs(3, Some(N1)));
}

#[test]
fn election_timeout_is_ignored_by_a_leader() {
    let mut n = leader(cfg3(), 2, &[]);
    let before = n.clone();
    assert_eq!(step(&mut n, Input::Timeout(Timer::Election)), vec![]);
    assert_eq!(n, before);
}

#[test]
fn election_timeout_is_ignored_by_a_non_voter() {
    let mut n = restored(NodeId(4), cfg3(), hs(1, None), &[]);
    let before = n.clone();
    assert_eq!(step(&mut n, Input::Timeout(Timer::Election)), vec![]);
    assert_eq!(n, before);
}

#[test]
fn single_voter_elects_itself_and_commits_alone() {
    let cfg = Arc::new(Config::new([N1]));
    let mut n = restored(N1, cfg, hs(0, None), &[]);

    let out = step(&mut n, Input::Timeout(Timer::Election));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(1, Some(N1))),
            Action::SetTimer(Timer::Election),
            Action::CancelTimer(Timer::Election),
            Action::SetTimer(Timer::Heartbeat),
        ]
    );
    assert!(n.is_leader());

    let out = step(&mut n, propose(1));
    assert_eq!(
        out,
        vec![
            Action::AppendLog(vec![cmd(1, 1)]),
            apply(1, cmd(1, 1)),
            reply(1, 1, 1),
        ]
    );
    assert_eq!(n.commit, LogIndex(1));
}

#[test]
fn vote_granted_is_persisted_before_the_reply() {
    let mut n = restored(N2, cfg3(), hs(1, None), &[noop(1)]);

    let out = step(&mut n, recv(N1, request_vote(1, 1, 1)));

    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(1, Some(N1))),
            Action::SetTimer(Timer::Election),
            send(N1, vote_response(1, true)),
        ]
    );
    assert_eq!(n.hard, hs(1, Some(N1)));
    assert_eq!(n.role, Role::Follower { leader: None });
}

#[test]
fn vote_in_a_higher_term_persists_the_term_then_the_vote() {
    let mut n = restored(N2, cfg3(), hs(1, Some(N3)), &[noop(1)]);

    let out = step(&mut n, recv(N1, request_vote(2, 1, 1)));

    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, None)),
            Action::PersistHardState(hs(2, Some(N1))),
            Action::SetTimer(Timer::Election),
            send(N1, vote_response(2, true)),
        ]
    );
    assert_eq!(n.hard, hs(2, Some(N1)));
}

#[test]
fn a_repeated_request_from_the_same_candidate_is_granted_again() {
    let mut n = restored(N2, cfg3(), hs(1, Some(N1)), &[]);

    let out = step(&mut n, recv(N1, request_vote(1, 0, 0)));

    // Nothing new to persist; the vote was already durable.
    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            send(N1, vote_response(1, true)),
        ]
    );
    assert_eq!(n.hard, hs(1, Some(N1)));
}

#[test]
fn vote_denied_when_already_voted_for_another_in_the_term() {
    let mut n = restored(N2, cfg3(), hs(1, Some(N3)), &[]);

    let out = step(&mut n, recv(N1, request_vote(1, 5, 1)));

    assert_eq!(out, vec![send(N1, vote_response(1, false))]);
    assert_eq!(n.hard, hs(1, Some(N3)));
}

#[test]
fn vote_denied_when_candidate_last_term_is_lower() {
    // Our log ends with term 2; the candidate's ends with term 1, although
    // it is longer.
    let mut n = restored(N2, cfg3(), hs(2, None), &[noop(1), noop(2)]);

    let out = step(&mut n, recv(N1, request_vote(3, 5, 1)));

    // The higher term is adopted (and persisted) even though the vote is
    // denied.
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, None)),
            send(N1, vote_response(3, false)),
        ]
    );
    assert_eq!(n.hard, hs(3, None));
}

#[test]
fn vote_denied_when_candidate_log_is_shorter_in_the_same_last_term() {
    let mut n = restored(N2, cfg3(), hs(2, None), &[noop(1), noop(2), noop(2)]);

    let out = step(&mut n, recv(N1, request_vote(2, 2, 2)));

    assert_eq!(out, vec![send(N1, vote_response(2, false))]);
    assert_eq!(n.hard, hs(2, None));
}

#[test]
fn vote_denied_for_a_stale_term_and_the_reply_carries_ours() {
    let mut n = restored(N2, cfg3(), hs(3, None), &[]);

    let out = step(&mut n, recv(N1, request_vote(2, 9, 2)));

    assert_eq!(out, vec![send(N1, vote_response(3, false))]);
    assert_eq!(n.hard, hs(3, None));
}

#[test]
fn leader_and_candidate_deny_a_rival_of_their_own_term() {
    let mut l = leader(cfg3(), 2, &[]);
    assert_eq!(
        step(&mut l, recv(N3, request_vote(2, 0, 0))),
        vec![send(N3, vote_response(2, false))]
    );
    assert!(l.is_leader());

    let mut c = candidate(cfg3(), 2, &[]);
    assert_eq!(
        step(&mut c, recv(N3, request_vote(2, 0, 0))),
        vec![send(N3, vote_response(2, false))]
    );
    assert_eq!(c.hard, hs(2, Some(N1)));
}

#[test]
fn leader_steps_down_on_a_higher_term() {
    let mut n = leader(cfg3(), 2, &[]);

    let out = step(&mut n, recv(N2, append_response(3, false, 0)));

    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, None)),
            Action::CancelTimer(Timer::Heartbeat),
            Action::SetTimer(Timer::Election),
            Action::NotLeader {
                request: None,
                leader: None
            },
        ]
    );
    assert_eq!(n.hard, hs(3, None));
    assert_eq!(n.role, Role::Follower { leader: None });
}

#[test]
fn leader_steps_down_on_a_higher_term_vote_request_and_may_grant_it() {
    let mut n = leader(cfg3(), 2, &[noop(1)]);

    let out = step(&mut n, recv(N3, request_vote(3, 1, 1)));

    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, None)),
            Action::CancelTimer(Timer::Heartbeat),
            Action::SetTimer(Timer::Election),
            Action::NotLeader {
                request: None,
                leader: None
            },
            Action::PersistHardState(hs(3, Some(N3))),
            Action::SetTimer(Timer::Election),
            send(N3, vote_response(3, true)),
        ]
    );
    assert_eq!(n.hard, hs(3, Some(N3)));
    assert_eq!(n.role, Role::Follower { leader: None });
}

#[test]
fn candidate_becomes_leader_on_a_majority() {
    let mut n = candidate(cfg3(), 2, &[noop(1)]);

    let out = step(&mut n, recv(N2, vote_response(2, true)));

    let heartbeat = append(2, (1, 1), &[], 0);
    assert_eq!(
        out,
        vec![
            Action::CancelTimer(Timer::Election),
            send(N2, heartbeat.clone()),
            send(N3, heartbeat),
            Action::SetTimer(Timer::Heartbeat),
        ]
    );
    assert!(n.is_leader());
    assert_eq!(n.known_leader(), Some(N1));
    assert_eq!(
        progress_of(&n),
        &BTreeMap::from([(N2, progress(2, 0)), (N3, progress(2, 0))])
    );
    assert_eq!(n.hard, hs(2, Some(N1)));
}

#[test]
fn a_vote_is_counted_once_and_only_when_granted_in_the_current_term() {
    let five = Arc::new(Config::new((1..=5).map(NodeId)));
    let mut n = candidate(five, 2, &[]);

    // Denied, stale and non-voter grants do not count.
    assert_eq!(step(&mut n, recv(N2, vote_response(2, false))), vec![]);
    assert_eq!(step(&mut n, recv(N2, vote_response(1, true))), vec![]);
    assert_eq!(
        step(&mut n, recv(NodeId(9), vote_response(2, true))),
        vec![]
    );
    // A duplicated grant is one vote: 2 of 5 is no majority.
    assert_eq!(step(&mut n, recv(N2, vote_response(2, true))), vec![]);
    assert_eq!(step(&mut n, recv(N2, vote_response(2, true))), vec![]);
    assert_eq!(
        n.role,
        Role::Candidate {
            votes: BTreeSet::from([N1, N2])
        }
    );

    let out = step(&mut n, recv(N3, vote_response(2, true)));
    assert_eq!(out.first(), Some(&Action::CancelTimer(Timer::Election)));
    assert!(n.is_leader());
}

#[test]
fn late_votes_change_nothing_for_a_leader() {
    let mut n = leader(cfg3(), 2, &[]);
    let before = n.clone();
    assert_eq!(step(&mut n, recv(N3, vote_response(2, true))), vec![]);
    assert_eq!(n, before);
}

// ---- AppendEntries receiver --------------------------------------------

#[test]
fn append_on_an_empty_log_succeeds() {
    let mut n = restored(N2, cfg3(), hs(0, None), &[]);

    let out = step(&mut n, recv(N1, append(1, (0, 0), &[cmd(1, 1)], 0)));

    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(1, None)),
            Action::SetTimer(Timer::Election),
            Action::AppendLog(vec![cmd(1, 1)]),
            send(N1, append_response(1, true, 1)),
        ]
    );
    assert_eq!(n.log, log(&[cmd(1, 1)]));
    assert_eq!(n.commit, LogIndex(0));
    assert_eq!(n.role, Role::Follower { leader: Some(N1) });
    assert_eq!(n.hard, hs(1, None));
}

#[test]
fn append_rejected_on_a_missing_prev_with_our_last_index_as_hint() {
    let mut n = restored(N2, cfg3(), hs(1, None), &[noop(1)]);

    let out = step(&mut n, recv(N1, append(1, (3, 1), &[cmd(1, 1)], 3)));

    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            send(N1, append_response(1, false, 1)),
        ]
    );
    assert_eq!(n.log, log(&[noop(1)]));
    assert_eq!(n.commit, LogIndex(0));
    // The sender is still this term's leader.
    assert_eq!(n.role, Role::Follower { leader: Some(N1) });
}

#[test]
fn append_rejected_on_a_prev_term_mismatch() {
    let mut n = restored(N2, cfg3(), hs(3, None), &[noop(1), noop(2), noop(2)]);

    let out = step(&mut n, recv(N1, append(3, (2, 3), &[], 0)));

    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            send(N1, append_response(3, false, 3)),
        ]
    );
    assert_eq!(n.log.last_index(), LogIndex(3));
}

#[test]
fn append_from_a_stale_term_is_rejected_with_our_term() {
    let mut n = restored(N2, cfg3(), hs(3, None), &[noop(1)]);
    let before = n.clone();

    let out = step(&mut n, recv(N1, append(2, (0, 0), &[noop(2)], 1)));

    // No timer reset: a deposed leader must not delay an election.
    assert_eq!(out, vec![send(N1, append_response(3, false, 1))]);
    assert_eq!(n, before);
}

#[test]
fn append_with_a_conflicting_suffix_truncates_then_appends_and_applies() {
    // Entries 2 and 3 came from a deposed leader of term 1.
    let mut n = restored(N2, cfg3(), hs(2, None), &[noop(1), cmd(1, 1), cmd(1, 2)]);

    let out = step(
        &mut n,
        recv(N1, append(2, (1, 1), &[cmd(2, 3), cmd(2, 4)], 3)),
    );

    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            Action::TruncateLog { last: LogIndex(1) },
            Action::AppendLog(vec![cmd(2, 3), cmd(2, 4)]),
            apply(1, noop(1)),
            apply(2, cmd(2, 3)),
            apply(3, cmd(2, 4)),
            send(N1, append_response(2, true, 3)),
        ]
    );
    assert_eq!(n.log, log(&[noop(1), cmd(2, 3), cmd(2, 4)]));
    assert_eq!(n.commit, LogIndex(3));
    assert_eq!(n.role, Role::Follower { leader: Some(N1) });
}

#[test]
fn append_skips_what_matches_and_truncates_from_the_first_conflict() {
    let mut n = restored(N2, cfg3(), hs(3, None), &[noop(1), noop(1), noop(2)]);

    let out = step(
        &mut n,
        recv(N1, append(3, (0, 0), &[noop(1), noop(1), noop(3)], 0)),
    );

    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            Action::TruncateLog { last: LogIndex(2) },
            Action::AppendLog(vec![noop(3)]),
            send(N1, append_response(3, true, 3)),
        ]
    );
    assert_eq!(n.log, log(&[noop(1), noop(1), noop(3)]));
}

#[test]
fn a_stale_duplicate_append_does_not_truncate_a_longer_matching_log() {
    let mut n = restored(N2, cfg3(), hs(1, None), &[]);
    step(
        &mut n,
        recv(N1, append(1, (0, 0), &[cmd(1, 1), cmd(1, 2), cmd(1, 3)], 0)),
    );

    // The first, shorter AppendEntries of the same leader arrives late. Its
    // `leader_commit` covers more than it carries: only what it carries may
    // be committed (Figure 2: min(leaderCommit, index of last new entry)).
    let out = step(&mut n, recv(N1, append(1, (0, 0), &[cmd(1, 1)], 3)));

    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            apply(1, cmd(1, 1)),
            send(N1, append_response(1, true, 1)),
        ]
    );
    assert_eq!(n.log, log(&[cmd(1, 1), cmd(1, 2), cmd(1, 3)]));
    assert_eq!(n.commit, LogIndex(1));
}

#[test]
fn a_lower_leader_commit_never_lowers_the_commit_index() {
    let mut n = restored(N2, cfg3(), hs(1, None), &[]);
    step(
        &mut n,
        recv(N1, append(1, (0, 0), &[cmd(1, 1), cmd(1, 2)], 2)),
    );
    assert_eq!(n.commit, LogIndex(2));

    let out = step(&mut n, recv(N1, append(1, (2, 1), &[], 1)));

    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            send(N1, append_response(1, true, 2)),
        ]
    );
    assert_eq!(n.commit, LogIndex(2));
}

#[test]
fn candidate_steps_down_on_an_append_of_its_own_term() {
    let mut n = candidate(cfg3(), 2, &[]);

    let out = step(&mut n, recv(N3, append(2, (0, 0), &[], 0)));

    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            send(N3, append_response(2, true, 0)),
        ]
    );
    assert_eq!(n.role, Role::Follower { leader: Some(N3) });
    // Stepping down keeps the vote of the term.
    assert_eq!(n.hard, hs(2, Some(N1)));
}

// ---- leader: proposals, responses, commit ------------------------------

#[test]
fn leader_appends_a_proposal_and_sends_it_to_every_follower() {
    let mut n = leader(cfg3(), 2, &[noop(1)]);

    let out = step(&mut n, propose(1));

    let ae = append(2, (1, 1), &[cmd(2, 1)], 0);
    assert_eq!(
        out,
        vec![
            Action::AppendLog(vec![cmd(2, 1)]),
            send(N2, ae.clone()),
            send(N3, ae),
        ]
    );
    assert_eq!(n.log, log(&[noop(1), cmd(2, 1)]));
    assert_eq!(n.commit, LogIndex(0));
}

#[test]
fn leader_applies_then_replies_once_a_majority_holds_the_command() {
    let mut n = leader(cfg3(), 1, &[]);
    step(&mut n, propose(1));

    let out = step(&mut n, recv(N2, append_response(1, true, 1)));

    assert_eq!(out, vec![apply(1, cmd(1, 1)), reply(1, 1, 1)]);
    assert_eq!(n.commit, LogIndex(1));
    assert_eq!(progress_of(&n)[&N2], progress(2, 1));
    assert_eq!(progress_of(&n)[&N3], progress(1, 0));

    // The third replica changes nothing that is visible.
    let out = step(&mut n, recv(N3, append_response(1, true, 1)));
    assert_eq!(out, vec![]);
    assert_eq!(progress_of(&n)[&N3], progress(2, 1));
}

#[test]
fn leader_does_not_commit_an_earlier_term_entry_by_counting_replicas() {
    // Figure 8: the leader of term 3 holds an entry of term 2.
    let mut n = leader(cfg3(), 3, &[cmd(2, 1)]);

    // A majority (1 and 2) now holds index 1, but it is of term 2.
    let out = step(&mut n, recv(N2, append_response(3, true, 1)));
    assert_eq!(out, vec![]);
    assert_eq!(n.commit, LogIndex(0));
    assert_eq!(progress_of(&n)[&N2], progress(2, 1));

    let out = step(&mut n, propose(2));
    let ae = append(3, (1, 2), &[cmd(3, 2)], 0);
    assert_eq!(
        out,
        vec![
            Action::AppendLog(vec![cmd(3, 2)]),
            send(N2, ae.clone()),
            send(N3, ae),
        ]
    );
    assert_eq!(n.commit, LogIndex(0));

    // Once an entry of term 3 is on a majority, both commit.
    let out = step(&mut n, recv(N2, append_response(3, true, 2)));
    assert_eq!(
        out,
        vec![
            apply(1, cmd(2, 1)),
            reply(1, 1, 3),
            apply(2, cmd(3, 2)),
            reply(2, 2, 3),
        ]
    );
    assert_eq!(n.commit, LogIndex(2));
}

#[test]
fn with_commit_previous_term_the_leader_commits_an_earlier_term_entry() {
    let mut n = leader(cfg3_with(Bug::CommitPreviousTerm), 3, &[cmd(2, 1)]);

    let out = step(&mut n, recv(N2, append_response(3, true, 1)));

    assert_eq!(out, vec![apply(1, cmd(2, 1)), reply(1, 1, 3)]);
    assert_eq!(n.commit, LogIndex(1));
}

#[test]
fn a_duplicate_proposal_is_not_appended_and_is_answered_once_committed() {
    let mut n = leader(cfg3(), 1, &[]);
    step(&mut n, propose(1));

    // Pending: nothing to do, nothing appended.
    assert_eq!(step(&mut n, propose(1)), vec![]);
    assert_eq!(n.log, log(&[cmd(1, 1)]));

    step(&mut n, recv(N2, append_response(1, true, 1)));
    assert_eq!(n.commit, LogIndex(1));

    // Committed: the retry is answered with the original index.
    assert_eq!(step(&mut n, propose(1)), vec![reply(1, 1, 1)]);
    assert_eq!(n.log, log(&[cmd(1, 1)]));

    // The same through the network.
    let retry = Message::ClientRequest(crate::message::ClientRequest {
        request: req(1),
        data: vec![1],
    });
    assert_eq!(step(&mut n, recv(NodeId(100), retry)), vec![reply(1, 1, 1)]);
}

/// Raft §8: a leader learns what is committed only by committing an entry
/// of its own term. A retried request already in the log is not appended
/// again, so a request left uncommitted by an earlier leader commits only
/// once something of the new term does: exchange retries and heartbeats
/// between the leader and node 2 and report what the leader emitted.
fn retry_and_heartbeat_three_times(cfg: Arc<Config>) -> (Node, Vec<Action>) {
    let mut l = leader(cfg.clone(), 3, &[cmd(2, 1)]);
    let mut f = restored(N2, cfg, hs(3, Some(N1)), &[cmd(2, 1)]);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let mut out = step(&mut l, propose(1));
        out.extend(step(&mut l, Input::Timeout(Timer::Heartbeat)));
        for action in &out {
            let Action::Send { to: N2, msg } = action else {
                continue;
            };
            for back in step(&mut f, recv(N1, msg.clone())) {
                if let Action::Send { to: N1, msg } = back {
                    seen.extend(step(&mut l, recv(N2, msg)));
                }
            }
        }
        seen.extend(out);
    }
    (l, seen)
}

#[test]
fn without_a_leader_noop_an_earlier_terms_request_waits_for_a_new_command() {
    let (l, seen) = retry_and_heartbeat_three_times(cfg3());
    assert!(!seen.iter().any(|a| matches!(a, Action::Reply { .. })));
    assert_eq!(l.commit, LogIndex(0));
}

#[test]
fn with_a_leader_noop_an_earlier_terms_request_commits() {
    let mut cfg = Config::new([N1, N2, N3]);
    cfg.leader_noop = true;
    let (l, seen) = retry_and_heartbeat_three_times(Arc::new(cfg));
    assert_eq!(l.log.entries(), &[cmd(2, 1), noop(3)]);
    assert!(seen.contains(&reply(1, 1, 3)), "never answered: {seen:?}");
    assert_eq!(l.commit, LogIndex(2));
}

#[test]
fn a_non_leader_refuses_a_proposal_with_its_leader_hint() {
    let mut f = restored(N2, cfg3(), hs(1, None), &[]);
    let not_leader = |leader| {
        vec![Action::NotLeader {
            request: Some(req(1)),
            leader,
        }]
    };
    let before = f.clone();
    assert_eq!(step(&mut f, propose(1)), not_leader(None));
    assert_eq!(f, before);
    // A follower that heard from its leader names it.
    step(&mut f, recv(N1, append(1, (0, 0), &[], 0)));
    assert_eq!(step(&mut f, propose(1)), not_leader(Some(N1)));

    let mut c = candidate(cfg3(), 2, &[]);
    let before = c.clone();
    assert_eq!(step(&mut c, propose(1)), not_leader(None));
    assert_eq!(c, before);
}

#[test]
fn heartbeat_timeout_sends_to_every_follower_and_rearms() {
    let mut n = leader(cfg3(), 2, &[noop(1)]);
    step(&mut n, propose(1));
    step(&mut n, recv(N2, append_response(2, true, 2)));

    let out = step(&mut n, Input::Timeout(Timer::Heartbeat));

    assert_eq!(
        out,
        vec![
            send(N2, append(2, (2, 2), &[], 2)),
            send(N3, append(2, (1, 1), &[cmd(2, 1)], 2)),
            Action::SetTimer(Timer::Heartbeat),
        ]
    );

    let mut f = restored(N2, cfg3(), hs(1, None), &[]);
    assert_eq!(step(&mut f, Input::Timeout(Timer::Heartbeat)), vec![]);
}

#[test]
fn a_rejection_backs_next_off_to_the_hint_and_retries_at_once() {
    let mut n = leader(cfg3(), 3, &[noop(1), noop(1), noop(2), noop(2)]);
    assert_eq!(progress_of(&n)[&N2], progress(5, 0));

    // The follower holds only one entry.
    let out = step(&mut n, recv(N2, append_response(3, false, 1)));

    assert_eq!(
        out,
        vec![send(N2, append(3, (1, 1), &[noop(1), noop(2), noop(2)], 0))]
    );
    assert_eq!(progress_of(&n)[&N2], progress(2, 0));

    // A duplicate of that rejection backs off once more, as in the paper
    // (wasteful but safe), and never below `matched + 1`.
    let out = step(&mut n, recv(N2, append_response(3, false, 1)));
    assert_eq!(
        out,
        vec![send(
            N2,
            append(3, (0, 0), &[noop(1), noop(1), noop(2), noop(2)], 0)
        )]
    );
    assert_eq!(progress_of(&n)[&N2], progress(1, 0));
    assert_eq!(step(&mut n, recv(N2, append_response(3, false, 1))), vec![]);
    assert_eq!(progress_of(&n)[&N2], progress(1, 0));
}

#[test]
fn a_rejection_with_a_long_hint_backs_off_by_one() {
    let mut n = leader(cfg3(), 3, &[noop(1), noop(2)]);

    // The follower's log is longer but diverges: its hint is useless.
    let out = step(&mut n, recv(N2, append_response(3, false, 9)));

    assert_eq!(out, vec![send(N2, append(3, (1, 1), &[noop(2)], 0))]);
    assert_eq!(progress_of(&n)[&N2], progress(2, 0));
}

#[test]
fn a_stale_success_never_moves_progress_back() {
    let mut n = leader(cfg3(), 1, &[]);
    step(&mut n, propose(1));
    step(&mut n, propose(2));
    step(&mut n, recv(N2, append_response(1, true, 2)));
    assert_eq!(progress_of(&n)[&N2], progress(3, 2));

    assert_eq!(step(&mut n, recv(N2, append_response(1, true, 1))), vec![]);
    assert_eq!(progress_of(&n)[&N2], progress(3, 2));
    // A response of an earlier term is ignored altogether.
    let mut m = leader(cfg3(), 2, &[]);
    let before = m.clone();
    assert_eq!(step(&mut m, recv(N2, append_response(1, true, 0))), vec![]);
    assert_eq!(m, before);
}

#[test]
fn restart_forgets_role_and_commit_but_keeps_hard_state_and_log() {
    let mut n = leader(cfg3(), 1, &[]);
    step(&mut n, propose(1));
    step(&mut n, recv(N2, append_response(1, true, 1)));
    assert_eq!(n.commit, LogIndex(1));

    let r = restored(N1, n.cfg.clone(), n.hard, n.log.entries());

    assert_eq!(r.hard, hs(1, Some(N1)));
    assert_eq!(r.log, n.log);
    assert_eq!(r.commit, LogIndex(0));
    assert_eq!(r.role, Role::Follower { leader: None });
}

// ---- catalogued bugs ---------------------------------------------------

#[test]
fn with_unpersisted_vote_the_vote_is_granted_without_persisting_it() {
    let mut n = restored(N2, cfg3_with(Bug::UnpersistedVote), hs(1, None), &[]);

    let out = step(&mut n, recv(N1, request_vote(1, 0, 0)));

    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            send(N1, vote_response(1, true)),
        ]
    );
    // Remembered in memory only: a restart from what was persisted would
    // have no vote in term 1.
    assert_eq!(n.hard, hs(1, Some(N1)));
}

#[test]
fn with_vote_without_log_check_an_out_of_date_candidate_gets_the_vote() {
    let cfg = cfg3_with(Bug::VoteWithoutLogCheck);
    let mut n = restored(N2, cfg, hs(2, None), &[noop(1), noop(2)]);

    let out = step(&mut n, recv(N1, request_vote(3, 0, 0)));

    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, None)),
            Action::PersistHardState(hs(3, Some(N1))),
            Action::SetTimer(Timer::Election),
            send(N1, vote_response(3, true)),
        ]
    );
    assert_eq!(n.hard, hs(3, Some(N1)));
}
