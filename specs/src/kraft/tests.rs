//! Engine tests of the KRaft node, in the style of `raft::tests`: build a
//! node in a known state, feed it one [`Input`], assert the exact actions
//! (order included: persist before send, apply before reply) and the state
//! it is left in. Every step goes through [`step`], which also runs
//! [`Node::validate`]. At the end, a seeded random schedule drives a whole
//! cluster and checks every safety property after each event.
//!
//! Unless a test says otherwise the voters are {0, 1, 2} and node 3 is an
//! observer.

use super::*;
use crate::fixtures::{cmd, noop, req};
use crate::invariants::History;
use crate::message::{
    BeginQuorumEpoch, ClientRequest, DivergingEpoch, EndQuorumEpoch, FetchError, FetchResponse,
    KraftVote, KraftVoteResponse,
};
use crate::types::{Entry, Term};

// ---- building blocks ---------------------------------------------------

const N0: NodeId = NodeId(0);
const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn cfg() -> Arc<Config> {
    Arc::new(Config::new([N0, N1, N2], [N3]))
}

fn cfg_with(change: impl FnOnce(&mut Config)) -> Arc<Config> {
    let mut c = Config::new([N0, N1, N2], [N3]);
    change(&mut c);
    Arc::new(c)
}

fn hs(epoch: u64, voted_for: Option<NodeId>, leader: Option<NodeId>) -> HardState {
    HardState {
        term: Term(epoch),
        voted_for,
        leader,
    }
}

/// A log of no-ops of the given epochs.
fn log_of(epochs: &[u64]) -> Log {
    Log::from_entries(epochs.iter().map(|&e| noop(e)).collect())
}

/// A restored node and the actions its restart asked for.
fn restore_with(id: NodeId, cfg: Arc<Config>, hard: HardState, log: Log) -> (Node, Vec<Action>) {
    let mut out = Vec::new();
    let node = {
        let (node, actions) = Node::restore(id, cfg, Durable { hard, log });
        out.extend(actions);
        node
    };
    assert_eq!(node.validate(), Ok(()), "{node:?}");
    (node, out)
}

fn restore(id: NodeId, hard: HardState, log: Log) -> Node {
    restore_with(id, cfg(), hard, log).0
}

/// Runs one input and returns the actions, checking the node's invariants.
fn step(node: &mut Node, input: Input) -> Vec<Action> {
    crate::fixtures::checked_step(node, input)
}

fn recv(node: &mut Node, from: NodeId, msg: Message) -> Vec<Action> {
    step(node, Input::Receive { from, msg })
}

fn timeout(node: &mut Node, t: Timer) -> Vec<Action> {
    step(node, Input::Timeout(t))
}

fn send(to: NodeId, msg: Message) -> Action {
    Action::Send { to, msg }
}

fn vote(epoch: u64, last_epoch: u64, last_offset: u64) -> Message {
    Message::KraftVote(KraftVote {
        epoch: Term(epoch),
        last_epoch: Term(last_epoch),
        last_offset: LogIndex(last_offset),
        pre_vote: false,
    })
}

fn pre_vote(epoch: u64, last_epoch: u64, last_offset: u64) -> Message {
    Message::KraftVote(KraftVote {
        epoch: Term(epoch),
        last_epoch: Term(last_epoch),
        last_offset: LogIndex(last_offset),
        pre_vote: true,
    })
}

fn vote_response(epoch: u64, leader: Option<NodeId>, granted: bool, pre_vote: bool) -> Message {
    Message::KraftVoteResponse(KraftVoteResponse {
        epoch: Term(epoch),
        leader,
        granted,
        pre_vote,
    })
}

fn fetch(offset: u64, last_epoch: u64, epoch: u64) -> Message {
    Message::Fetch(Fetch {
        fetch_offset: LogIndex(offset),
        last_fetched_epoch: Term(last_epoch),
        current_leader_epoch: Term(epoch),
    })
}

fn begin(epoch: u64) -> Message {
    Message::BeginQuorumEpoch(BeginQuorumEpoch { epoch: Term(epoch) })
}

/// An error-free answer of leader `leader` in `epoch` to a fetch at
/// (`offset`, `last_epoch`).
fn records(
    epoch: u64,
    leader: NodeId,
    (offset, last_epoch): (u64, u64),
    records: Vec<Entry>,
    hwm: Option<u64>,
) -> Message {
    Message::FetchResponse(FetchResponse {
        epoch: Term(epoch),
        leader: Some(leader),
        error: None,
        fetch_offset: LogIndex(offset),
        last_fetched_epoch: Term(last_epoch),
        records,
        high_watermark: hwm.map(LogIndex),
        diverging: None,
    })
}

fn diverging(epoch: u64, leader: NodeId, at: (u64, u64), d: (u64, u64)) -> Message {
    Message::FetchResponse(FetchResponse {
        epoch: Term(epoch),
        leader: Some(leader),
        error: None,
        fetch_offset: LogIndex(at.0),
        last_fetched_epoch: Term(at.1),
        records: vec![],
        high_watermark: None,
        diverging: Some(DivergingEpoch {
            epoch: Term(d.0),
            end_offset: LogIndex(d.1),
        }),
    })
}

fn fetch_error(
    epoch: u64,
    leader: Option<NodeId>,
    error: FetchError,
    (offset, last_epoch): (u64, u64),
) -> Message {
    Message::FetchResponse(FetchResponse {
        epoch: Term(epoch),
        leader,
        error: Some(error),
        fetch_offset: LogIndex(offset),
        last_fetched_epoch: Term(last_epoch),
        records: vec![],
        high_watermark: None,
        diverging: None,
    })
}

/// Node 0 as the leader of `epoch` over `log` (its candidacy restored, then
/// node 1's vote delivered); its leader-change record is appended to `log`.
fn leader_with(cfg: Arc<Config>, epoch: u64, log: Log) -> Node {
    let (mut node, _) = restore_with(N0, cfg, hs(epoch, Some(N0), None), log);
    recv(&mut node, N1, vote_response(epoch, None, true, false));
    assert!(node.is_leader());
    node
}

fn leader(epoch: u64, log: Log) -> Node {
    leader_with(cfg(), epoch, log)
}

fn leader_state(node: &Node) -> &LeaderState {
    match &node.state {
        State::Leader(l) => l,
        s => panic!("not a leader: {s:?}"),
    }
}

// ---- votes ---------------------------------------------------------------

#[test]
fn vote_is_granted_and_persisted_before_the_answer() {
    let mut n = restore(N1, hs(1, None, None), log_of(&[1]));
    let out = recv(&mut n, N0, vote(2, 1, 1));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, Some(N0), None)),
            Action::SetTimer(Timer::Election),
            send(N0, vote_response(2, None, true, false)),
        ]
    );
    assert_eq!(n.state, State::Voted { candidate: N0 });
    // Asked again by the same candidate: granted again, nothing to persist.
    let out = recv(&mut n, N0, vote(2, 1, 1));
    assert_eq!(out, vec![send(N0, vote_response(2, None, true, false))]);
}

#[test]
fn vote_of_a_lower_epoch_is_refused_with_the_newer_epoch() {
    let mut n = restore(N1, hs(3, None, None), log_of(&[1]));
    let out = recv(&mut n, N0, vote(2, 1, 1));
    assert_eq!(out, vec![send(N0, vote_response(3, None, false, false))]);
    assert_eq!(n.hard, hs(3, None, None));
}

#[test]
fn vote_is_refused_after_voting_for_another_candidate() {
    let mut n = restore(N1, hs(2, Some(N2), None), log_of(&[1]));
    assert_eq!(n.state, State::Voted { candidate: N2 });
    let out = recv(&mut n, N0, vote(2, 1, 5));
    assert_eq!(out, vec![send(N0, vote_response(2, None, false, false))]);
    assert_eq!(n.hard, hs(2, Some(N2), None));
}

#[test]
fn vote_is_refused_when_the_epoch_has_a_known_leader() {
    let mut n = restore(N1, hs(2, None, Some(N2)), log_of(&[1]));
    let out = recv(&mut n, N0, vote(2, 1, 5));
    // The answer names the leader, so the candidate can follow it.
    assert_eq!(
        out,
        vec![send(N0, vote_response(2, Some(N2), false, false))]
    );
}

#[test]
fn vote_is_refused_to_a_candidate_whose_log_is_behind() {
    // Longer, but of an older epoch: epochs compare first.
    let mut n = restore(N1, hs(2, None, None), log_of(&[1, 2]));
    let out = recv(&mut n, N0, vote(3, 1, 5));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, None, None)),
            Action::SetTimer(Timer::Election),
            send(N0, vote_response(3, None, false, false)),
        ]
    );
    assert_eq!(n.state, State::Unattached);
    // Same last epoch, shorter log.
    let mut n = restore(N1, hs(3, None, None), log_of(&[1, 2, 2]));
    let out = recv(&mut n, N0, vote(3, 2, 2));
    assert_eq!(out, vec![send(N0, vote_response(3, None, false, false))]);
}

#[test]
fn candidates_leaders_and_resigned_leaders_never_grant_a_vote() {
    let mut candidate = restore(N1, hs(2, Some(N1), None), log_of(&[1]));
    assert!(matches!(candidate.state, State::Candidate { .. }));
    let out = recv(&mut candidate, N2, vote(2, 1, 9));
    assert_eq!(out, vec![send(N2, vote_response(2, None, false, false))]);

    let mut resigned = restore(N1, hs(2, Some(N1), Some(N1)), log_of(&[1, 2]));
    assert_eq!(resigned.state, State::Resigned);
    let out = recv(&mut resigned, N2, vote(2, 2, 9));
    assert_eq!(
        out,
        vec![send(N2, vote_response(2, Some(N1), false, false))]
    );

    let mut l = leader(2, log_of(&[1]));
    let out = recv(&mut l, N2, vote(2, 2, 9));
    assert_eq!(
        out,
        vec![send(N2, vote_response(2, Some(N0), false, false))]
    );
}

#[test]
fn observers_never_vote_and_are_never_voted_for() {
    let mut observer = restore(N3, hs(1, None, None), Log::default());
    let out = recv(&mut observer, N0, vote(2, 0, 0));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, None, None)),
            Action::SetTimer(Timer::Fetch),
            send(N0, vote_response(2, None, false, false)),
        ]
    );
    let mut voter = restore(N1, hs(2, None, None), Log::default());
    let out = recv(&mut voter, N3, vote(2, 0, 0));
    assert_eq!(out, vec![send(N3, vote_response(2, None, false, false))]);
}

#[test]
fn a_pre_vote_is_granted_on_the_log_alone_and_changes_nothing() {
    let mut n = restore(N1, hs(2, Some(N2), None), log_of(&[1]));
    let out = recv(&mut n, N0, pre_vote(2, 1, 1));
    assert_eq!(out, vec![send(N0, vote_response(2, None, true, true))]);
    assert_eq!(n.hard, hs(2, Some(N2), None));
    // A follower has a leader to follow: no pre-vote either.
    let mut f = restore(N1, hs(2, None, Some(N2)), log_of(&[1]));
    let out = recv(&mut f, N0, pre_vote(2, 1, 1));
    assert_eq!(out, vec![send(N0, vote_response(2, Some(N2), false, true))]);
}

// ---- elections -----------------------------------------------------------

#[test]
fn election_timeout_bumps_the_epoch_and_votes_for_itself_first() {
    let mut n = restore(N1, hs(1, None, Some(N0)), log_of(&[1]));
    let out = timeout(&mut n, Timer::Election);
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, Some(N1), None)),
            Action::CancelTimer(Timer::Fetch),
            Action::SetTimer(Timer::Election),
            send(N0, vote(2, 1, 1)),
            send(N2, vote(2, 1, 1)),
        ]
    );
    // An observer never campaigns.
    let mut o = restore(N3, hs(1, None, Some(N0)), log_of(&[1]));
    assert_eq!(timeout(&mut o, Timer::Election), vec![]);
}

#[test]
fn a_majority_of_votes_makes_a_leader_that_appends_a_leader_change_record() {
    let (mut n, restart) = restore_with(N0, cfg(), hs(2, Some(N0), None), log_of(&[1]));
    // A self-voter restarts Candidate and asks again.
    assert_eq!(
        restart,
        vec![
            Action::SetTimer(Timer::Election),
            send(N1, vote(2, 1, 1)),
            send(N2, vote(2, 1, 1)),
        ]
    );
    // A pre-vote answer is no vote.
    assert_eq!(recv(&mut n, N1, vote_response(2, None, true, true)), vec![]);
    let out = recv(&mut n, N1, vote_response(2, None, true, false));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, Some(N0), Some(N0))),
            Action::AppendLog(vec![noop(2)]),
            Action::CancelTimer(Timer::Election),
            Action::SetTimer(Timer::Heartbeat),
            send(N1, begin(2)),
            send(N2, begin(2)),
        ]
    );
    let l = leader_state(&n);
    assert_eq!(l.epoch_start_offset, LogIndex(1));
    assert_eq!(l.high_watermark, None);
    assert_eq!(n.log.entries(), &[noop(1), noop(2)]);
}

#[test]
fn a_vote_response_of_a_newer_epoch_ends_the_candidacy() {
    let mut n = restore(N0, hs(2, Some(N0), None), log_of(&[1]));
    let out = recv(&mut n, N1, vote_response(3, Some(N2), false, false));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, None, Some(N2))),
            Action::SetTimer(Timer::Election),
            Action::SetTimer(Timer::Fetch),
            send(N2, fetch(1, 1, 3)),
        ]
    );
    assert_eq!(n.state, State::Follower { leader: N2 });
}

#[test]
fn pre_vote_asks_first_and_bumps_only_with_a_majority() {
    let c = cfg_with(|c| c.pre_vote = true);
    let (mut n, _) = restore_with(N1, c, hs(2, None, Some(N0)), log_of(&[1, 2]));
    let out = timeout(&mut n, Timer::Election);
    assert_eq!(
        out,
        vec![
            Action::CancelTimer(Timer::Fetch),
            Action::SetTimer(Timer::Election),
            send(N0, pre_vote(2, 2, 2)),
            send(N2, pre_vote(2, 2, 2)),
        ]
    );
    assert_eq!(
        n.hard,
        hs(2, None, Some(N0)),
        "a pre-vote round persists nothing"
    );
    // A real vote answer does not count as a pre-vote.
    assert_eq!(
        recv(&mut n, N2, vote_response(2, None, true, false)),
        vec![]
    );
    let out = recv(&mut n, N2, vote_response(2, None, true, true));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, Some(N1), None)),
            Action::SetTimer(Timer::Election),
            send(N0, vote(3, 2, 2)),
            send(N2, vote(3, 2, 2)),
        ]
    );
    assert!(matches!(n.state, State::Candidate { .. }));
}

// ---- BeginQuorumEpoch and EndQuorumEpoch -----------------------------------

#[test]
fn begin_quorum_epoch_makes_a_follower_that_fetches_at_once() {
    let mut n = restore(N1, hs(1, None, None), log_of(&[1]));
    let out = recv(&mut n, N0, begin(2));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, None, Some(N0))),
            Action::SetTimer(Timer::Election),
            Action::SetTimer(Timer::Fetch),
            send(N0, fetch(1, 1, 2)),
        ]
    );
    assert_eq!(n.state, State::Follower { leader: N0 });
    // Repeated: nothing new.
    assert_eq!(recv(&mut n, N0, begin(2)), vec![]);
    // Stale: ignored.
    assert_eq!(recv(&mut n, N2, begin(1)), vec![]);
}

#[test]
fn a_candidate_that_hears_of_the_winner_follows_it_and_keeps_its_vote() {
    let mut n = restore(N1, hs(2, Some(N1), None), log_of(&[1]));
    let out = recv(&mut n, N0, begin(2));
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, Some(N1), Some(N0))),
            Action::SetTimer(Timer::Election),
            Action::SetTimer(Timer::Fetch),
            send(N0, fetch(1, 1, 2)),
        ]
    );
}

/// EndQuorumEpoch of `epoch` with these ranks of preferred successors.
fn end_quorum(epoch: u64, ranks: &[&[NodeId]]) -> Message {
    Message::EndQuorumEpoch(EndQuorumEpoch {
        epoch: Term(epoch),
        preferred_successors: ranks.iter().map(|r| r.iter().copied().collect()).collect(),
    })
}

#[test]
fn end_quorum_epoch_makes_the_first_successor_campaign() {
    let end = end_quorum(2, &[&[N1], &[N2]]);
    let mut first = restore(N1, hs(2, None, Some(N0)), log_of(&[1, 2]));
    let out = recv(&mut first, N0, end.clone());
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, Some(N1), None)),
            Action::CancelTimer(Timer::Fetch),
            Action::SetTimer(Timer::Election),
            send(N0, vote(3, 2, 2)),
            send(N2, vote(3, 2, 2)),
        ]
    );
    let mut second = restore(N2, hs(2, None, Some(N0)), log_of(&[1, 2]));
    assert_eq!(recv(&mut second, N0, end), vec![]);
}

#[test]
fn end_quorum_epoch_leaves_tied_first_successors_to_their_timers() {
    // N1 and N2 fetched equally far: one rank, and neither campaigns at
    // once, whatever their ids (renaming them must not change who
    // campaigns); their election timers stay armed.
    let end = end_quorum(2, &[&[N1, N2]]);
    for id in [N1, N2] {
        let mut n = restore(id, hs(2, None, Some(N0)), log_of(&[1, 2]));
        assert_eq!(recv(&mut n, N0, end.clone()), vec![]);
        assert_eq!(n.state, State::Follower { leader: N0 });
    }
}

#[test]
fn a_resigning_leader_ranks_voters_that_fetched_equally_far_together() {
    let c = cfg_with(|c| c.check_quorum = true);
    // Neither follower fetched: one rank.
    let mut l = leader_with(c.clone(), 2, log_of(&[1]));
    let out = timeout(&mut l, Timer::CheckQuorum);
    let end = end_quorum(2, &[&[N1, N2]]);
    assert_eq!(out[out.len() - 2..], [send(N1, end.clone()), send(N2, end)]);
    // Both fetched up to the same offset: one rank again.
    let mut l = leader_with(c, 2, log_of(&[1]));
    recv(&mut l, N1, fetch(2, 2, 2));
    recv(&mut l, N2, fetch(2, 2, 2));
    let out = timeout(&mut l, Timer::CheckQuorum);
    let end = end_quorum(2, &[&[N1, N2]]);
    assert_eq!(out[out.len() - 2..], [send(N1, end.clone()), send(N2, end)]);
}

#[test]
fn check_quorum_resigns_a_leader_not_fetched_from_by_a_majority() {
    let c = cfg_with(|c| c.check_quorum = true);
    let mut l = leader_with(c, 2, log_of(&[1]));
    // Node 2 fetched: with the leader, a majority; the interval restarts.
    let out = recv(&mut l, N2, fetch(2, 2, 2));
    assert_eq!(out[0], Action::SetTimer(Timer::CheckQuorum));
    assert!(leader_state(&l).fetched.is_empty());
    let out = timeout(&mut l, Timer::CheckQuorum);
    let end = end_quorum(2, &[&[N2], &[N1]]);
    assert_eq!(
        out,
        vec![
            Action::CancelTimer(Timer::Heartbeat),
            Action::CancelTimer(Timer::CheckQuorum),
            Action::SetTimer(Timer::Election),
            Action::NotLeader {
                request: None,
                leader: None
            },
            send(N1, end.clone()),
            send(N2, end),
        ]
    );
    assert_eq!(l.state, State::Resigned);
    assert_eq!(
        l.hard,
        hs(2, Some(N0), Some(N0)),
        "resigning persists nothing"
    );
}

#[test]
fn the_leader_resends_begin_quorum_epoch_to_voters_that_have_not_fetched() {
    let mut l = leader(2, log_of(&[1]));
    let out = timeout(&mut l, Timer::Heartbeat);
    assert_eq!(
        out,
        vec![
            send(N1, begin(2)),
            send(N2, begin(2)),
            Action::SetTimer(Timer::Heartbeat)
        ]
    );
    recv(&mut l, N1, fetch(2, 2, 2));
    let out = timeout(&mut l, Timer::Heartbeat);
    assert_eq!(
        out,
        vec![send(N2, begin(2)), Action::SetTimer(Timer::Heartbeat)]
    );
    recv(&mut l, N2, fetch(1, 1, 2));
    assert_eq!(timeout(&mut l, Timer::Heartbeat), vec![]);
}

// ---- Fetch, leader side ----------------------------------------------------

#[test]
fn a_fetch_is_answered_with_records_and_acknowledges_the_offset() {
    let mut l = leader(2, log_of(&[1]));
    // Offset 1 acknowledged: a majority holds 1, which is not past the epoch
    // start offset (1), so no high watermark yet.
    let out = recv(&mut l, N1, fetch(1, 1, 2));
    assert_eq!(
        out,
        vec![send(N1, records(2, N0, (1, 1), vec![noop(2)], None))]
    );
    assert_eq!(
        leader_state(&l).end_offsets,
        BTreeMap::from([(N1, LogIndex(1))])
    );
    // Offset 2 acknowledged: the leader-change record is on a majority.
    let out = recv(&mut l, N1, fetch(2, 2, 2));
    assert_eq!(
        out,
        vec![
            Action::Apply {
                index: LogIndex(1),
                entry: noop(1)
            },
            Action::Apply {
                index: LogIndex(2),
                entry: noop(2)
            },
            send(N1, records(2, N0, (2, 2), vec![], Some(2))),
        ]
    );
    assert_eq!(leader_state(&l).high_watermark, Some(LogIndex(2)));
    assert_eq!(l.high_watermark, LogIndex(2));
}

#[test]
fn records_per_fetch_are_capped() {
    let c = cfg_with(|c| c.max_records_per_fetch = 2);
    let mut l = leader_with(c, 4, log_of(&[1, 1, 3]));
    let out = recv(&mut l, N1, fetch(0, 0, 4));
    assert_eq!(
        out,
        vec![send(
            N1,
            records(4, N0, (0, 0), vec![noop(1), noop(1)], None)
        )]
    );
}

#[test]
fn a_fetch_from_a_diverged_log_is_answered_with_the_diverging_epoch() {
    let mut l = leader(3, log_of(&[1, 1]));
    assert_eq!(l.log.entries(), &[noop(1), noop(1), noop(3)]);
    // The fetcher's log is [1, 2, 2]: epoch 2 is not in the leader's log;
    // the largest epoch below is 1, which ends at offset 2 here.
    let out = recv(&mut l, N1, fetch(3, 2, 3));
    assert_eq!(out, vec![send(N1, diverging(3, N0, (3, 2), (1, 2)))]);
    // The fetcher's log is [1, 1, 1]: epoch 1 ends at 2 here, before 3.
    let out = recv(&mut l, N2, fetch(3, 1, 3));
    assert_eq!(out, vec![send(N2, diverging(3, N0, (3, 1), (1, 2)))]);
    // A diverged fetch acknowledges nothing.
    assert!(leader_state(&l).end_offsets.is_empty());
}

#[test]
fn a_fetch_of_an_older_epoch_is_fenced_and_a_non_leader_says_who_leads() {
    let mut l = leader(2, log_of(&[1]));
    let out = recv(&mut l, N1, fetch(1, 1, 1));
    assert_eq!(
        out,
        vec![send(
            N1,
            fetch_error(2, Some(N0), FetchError::Fenced, (1, 1))
        )]
    );
    let mut f = restore(N1, hs(2, None, Some(N0)), log_of(&[1]));
    let out = recv(&mut f, N3, fetch(0, 0, 2));
    assert_eq!(
        out,
        vec![send(
            N3,
            fetch_error(2, Some(N0), FetchError::NotLeader, (0, 0))
        )]
    );
    // A fetch of a newer epoch gets no answer.
    assert_eq!(recv(&mut f, N3, fetch(0, 0, 3)), vec![]);
}

#[test]
fn an_observer_fetches_but_does_not_count_toward_the_high_watermark() {
    let mut l = leader(2, log_of(&[1]));
    let out = recv(&mut l, N3, fetch(2, 2, 2));
    assert_eq!(out, vec![send(N3, records(2, N0, (2, 2), vec![], None))]);
    assert!(leader_state(&l).end_offsets.is_empty());
    assert_eq!(l.high_watermark, LogIndex(0));
    // The same fetch from a voter makes a majority.
    let out = recv(&mut l, N2, fetch(2, 2, 2));
    assert_eq!(
        out.last(),
        Some(&send(N2, records(2, N0, (2, 2), vec![], Some(2))))
    );
    assert_eq!(l.high_watermark, LogIndex(2));
}

#[test]
fn with_five_voters_the_high_watermark_is_the_third_highest_offset() {
    let five = Arc::new(Config::new((0..5).map(NodeId), []));
    let (mut l, _) = restore_with(N0, five, hs(2, Some(N0), None), log_of(&[1, 1, 1]));
    recv(&mut l, N1, vote_response(2, None, true, false));
    recv(&mut l, N2, vote_response(2, None, true, false));
    assert!(l.is_leader());
    // Offsets: leader 4, n1 4, n2 3, n3 0, n4 0 → sorted [4, 4, 3, 0, 0],
    // position ⌊5/2⌋ = 2 → 3, not past the epoch start offset 3.
    recv(&mut l, N1, fetch(4, 2, 2));
    recv(&mut l, N2, fetch(3, 1, 2));
    assert_eq!(leader_state(&l).high_watermark, None);
    recv(&mut l, NodeId(3), fetch(4, 2, 2));
    assert_eq!(leader_state(&l).high_watermark, Some(LogIndex(4)));
}

#[test]
fn the_bug_lets_the_high_watermark_advance_before_the_epoch_start() {
    let c = cfg_with(|c| {
        c.bugs.insert(Bug::KraftHwmBeforeEpochStart);
    });
    let mut l = leader_with(c, 2, log_of(&[1]));
    let out = recv(&mut l, N1, fetch(1, 1, 2));
    assert_eq!(
        out,
        vec![
            Action::Apply {
                index: LogIndex(1),
                entry: noop(1)
            },
            send(N1, records(2, N0, (1, 1), vec![noop(2)], Some(1))),
        ]
    );
}

#[test]
fn a_proposal_commits_and_is_answered_once_a_majority_fetched_past_it() {
    let mut l = leader(2, Log::default());
    let propose = Input::Propose {
        request: req(1),
        data: vec![1],
    };
    assert_eq!(
        step(&mut l, propose.clone()),
        vec![Action::AppendLog(vec![cmd(2, 1)])]
    );
    // Proposed again before it commits: nothing.
    assert_eq!(step(&mut l, propose.clone()), vec![]);
    let out = recv(&mut l, N2, fetch(2, 2, 2));
    assert_eq!(
        out,
        vec![
            Action::Apply {
                index: LogIndex(1),
                entry: noop(2)
            },
            Action::Apply {
                index: LogIndex(2),
                entry: cmd(2, 1)
            },
            Action::Reply {
                request: req(1),
                index: LogIndex(2),
                term: Term(2)
            },
            send(N2, records(2, N0, (2, 2), vec![], Some(2))),
        ]
    );
    // A retry of a committed request is answered again.
    let retry = Message::ClientRequest(ClientRequest {
        request: req(1),
        data: vec![1],
    });
    assert_eq!(
        recv(&mut l, NodeId(9), retry),
        vec![Action::Reply {
            request: req(1),
            index: LogIndex(2),
            term: Term(2)
        }]
    );
    // A follower refuses proposals, naming its leader.
    let mut f = restore(N1, hs(2, None, Some(N0)), Log::default());
    assert_eq!(
        step(&mut f, propose),
        vec![Action::NotLeader {
            request: Some(req(1)),
            leader: Some(N0)
        }]
    );
}

// ---- Fetch, follower side --------------------------------------------------

#[test]
fn a_follower_appends_takes_the_high_watermark_and_fetches_again() {
    let mut f = restore(N1, hs(2, None, Some(N0)), log_of(&[1]));
    let out = recv(&mut f, N0, records(2, N0, (1, 1), vec![noop(2)], Some(3)));
    assert_eq!(
        out,
        vec![
            Action::AppendLog(vec![noop(2)]),
            // min(leader's 3, own end offset 2)
            Action::Apply {
                index: LogIndex(1),
                entry: noop(1)
            },
            Action::Apply {
                index: LogIndex(2),
                entry: noop(2)
            },
            Action::SetTimer(Timer::Election),
            send(N0, fetch(2, 2, 2)),
        ]
    );
    assert_eq!(f.high_watermark, LogIndex(2));
    // Nothing new: the fetch timeout restarts, no fetch at once.
    let out = recv(&mut f, N0, records(2, N0, (2, 2), vec![], Some(2)));
    assert_eq!(out, vec![Action::SetTimer(Timer::Election)]);
    // An answer to an older position is dropped.
    assert_eq!(
        recv(&mut f, N0, records(2, N0, (1, 1), vec![noop(2)], Some(3))),
        vec![]
    );
    // The fetch timer resends the position.
    assert_eq!(
        timeout(&mut f, Timer::Fetch),
        vec![send(N0, fetch(2, 2, 2)), Action::SetTimer(Timer::Fetch)]
    );
}

#[test]
fn a_follower_truncates_to_the_diverging_epoch_and_fetches_again() {
    let mut f = restore(N1, hs(3, None, Some(N0)), log_of(&[1, 2, 2]));
    let out = recv(&mut f, N0, diverging(3, N0, (3, 2), (1, 2)));
    // Epoch 1 ends at offset 1 here, before the leader's 2.
    assert_eq!(
        out,
        vec![
            Action::TruncateLog { last: LogIndex(1) },
            Action::SetTimer(Timer::Election),
            send(N0, fetch(1, 1, 3)),
        ]
    );
    // The same answer again is about a position the follower left.
    assert_eq!(recv(&mut f, N0, diverging(3, N0, (3, 2), (1, 2))), vec![]);
}

#[test]
fn a_follower_never_truncates_below_its_high_watermark() {
    let mut f = restore(N1, hs(3, None, Some(N0)), log_of(&[1, 2, 2]));
    f.high_watermark = LogIndex(2);
    let out = recv(&mut f, N0, diverging(3, N0, (3, 2), (1, 1)));
    assert_eq!(
        out,
        vec![
            Action::TruncateLog { last: LogIndex(2) },
            Action::SetTimer(Timer::Election),
            send(N0, fetch(2, 2, 3)),
        ]
    );
}

#[test]
fn fenced_or_not_leader_answers_move_the_fetcher_on() {
    // An observer that knows no leader asks every voter.
    let mut o = restore(N3, hs(1, None, None), Log::default());
    assert_eq!(
        timeout(&mut o, Timer::Fetch),
        vec![
            send(N0, fetch(0, 0, 1)),
            send(N1, fetch(0, 0, 1)),
            send(N2, fetch(0, 0, 1)),
            Action::SetTimer(Timer::Fetch),
        ]
    );
    let out = recv(
        &mut o,
        N1,
        fetch_error(2, Some(N0), FetchError::Fenced, (0, 0)),
    );
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(2, None, Some(N0))),
            Action::SetTimer(Timer::Fetch),
            send(N0, fetch(0, 0, 2)),
        ]
    );
    // Not the leader, and no leader named: Unattached in the newer epoch.
    let mut f = restore(N1, hs(2, None, Some(N0)), log_of(&[1]));
    let out = recv(
        &mut f,
        N0,
        fetch_error(3, None, FetchError::NotLeader, (1, 1)),
    );
    assert_eq!(
        out,
        vec![
            Action::PersistHardState(hs(3, None, None)),
            Action::CancelTimer(Timer::Fetch),
            Action::SetTimer(Timer::Election),
        ]
    );
}

// ---- restarts --------------------------------------------------------------

#[test]
fn a_former_leader_restarts_resigned_in_its_epoch() {
    let (mut n, out) = restore_with(N0, cfg(), hs(2, Some(N0), Some(N0)), log_of(&[1, 2]));
    let end = end_quorum(2, &[]);
    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            send(N1, end.clone()),
            send(N2, end),
        ]
    );
    assert_eq!(n.state, State::Resigned);
    assert_eq!(n.high_watermark, LogIndex(0));
    // It never votes in its epoch again...
    let out = recv(&mut n, N1, vote(2, 2, 5));
    assert_eq!(
        out,
        vec![send(N1, vote_response(2, Some(N0), false, false))]
    );
    // ...nor leads it: a fetch finds no leader here.
    let out = recv(&mut n, N1, fetch(2, 2, 2));
    assert_eq!(
        out,
        vec![send(
            N1,
            fetch_error(2, Some(N0), FetchError::NotLeader, (2, 2))
        )]
    );
    // Its election timeout starts a new epoch.
    let out = timeout(&mut n, Timer::Election);
    assert_eq!(out[0], Action::PersistHardState(hs(3, Some(N0), None)));
}

#[test]
fn a_resigned_leader_campaigns_without_a_pre_vote() {
    // With pre-vote on, the followers still name the resigned node as the
    // epoch's leader and refuse pre-votes: it must bump the epoch itself.
    let mut c = (*cfg()).clone();
    c.pre_vote = true;
    let (mut n, _) = restore_with(N0, Arc::new(c), hs(2, Some(N0), Some(N0)), log_of(&[1, 2]));
    assert_eq!(n.state, State::Resigned);
    let out = timeout(&mut n, Timer::Election);
    assert_eq!(out[0], Action::PersistHardState(hs(3, Some(N0), None)));
    assert!(matches!(n.state, State::Candidate { .. }), "{:?}", n.state);
}

#[test]
fn restarts_resume_from_the_quorum_state() {
    let (f, out) = restore_with(N1, cfg(), hs(2, Some(N1), Some(N0)), log_of(&[1]));
    assert_eq!(f.state, State::Follower { leader: N0 });
    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            Action::SetTimer(Timer::Fetch),
            send(N0, fetch(1, 1, 2)),
        ]
    );
    let (v, out) = restore_with(N1, cfg(), hs(2, Some(N2), None), Log::default());
    assert_eq!(v.state, State::Voted { candidate: N2 });
    assert_eq!(out, vec![Action::SetTimer(Timer::Election)]);
    let (u, _) = restore_with(N1, cfg(), hs(2, None, None), Log::default());
    assert_eq!(u.state, State::Unattached);
    let (o, out) = restore_with(N3, cfg(), hs(2, None, None), Log::default());
    assert_eq!(o.state, State::Unattached);
    assert_eq!(out, vec![Action::SetTimer(Timer::Fetch)]);
    // A single voter restarted as candidate wins at once.
    let one = Arc::new(Config::new([N0], []));
    let (l, out) = restore_with(N0, one, hs(1, Some(N0), None), Log::default());
    assert!(l.is_leader());
    assert_eq!(
        out,
        vec![
            Action::SetTimer(Timer::Election),
            Action::PersistHardState(hs(1, Some(N0), Some(N0))),
            Action::AppendLog(vec![noop(1)]),
            Action::CancelTimer(Timer::Election),
            Action::Apply {
                index: LogIndex(1),
                entry: noop(1)
            },
        ]
    );
}

#[test]
fn rename_nodes_relabels_every_id() {
    let mut l = leader(2, log_of(&[1]));
    recv(&mut l, N1, fetch(1, 1, 2));
    let swap = |n: NodeId| match n.0 {
        0 => N1,
        1 => N0,
        _ => n,
    };
    let r = l.rename_nodes(&swap);
    assert_eq!(r.id, N1);
    assert_eq!(r.hard, hs(2, Some(N1), Some(N1)));
    assert_eq!(
        leader_state(&r).end_offsets,
        BTreeMap::from([(N0, LogIndex(1))])
    );
    assert_eq!(r.rename_nodes(&swap), l);
}

// ---- the bug catalogue, shown on a hand-made schedule ----------------------

#[test]
fn hwm_before_epoch_start_lets_the_high_watermark_go_back() {
    // Epoch 1's leader had advertised 3 (a majority held [1, 1, 1]); node 0
    // leads epoch 2 from [1, 1, 1]; node 1 lags at offset 2.
    let mut h = History::default();
    let old = records(1, N2, (3, 1), vec![], Some(3));
    h = h.record_send(N2, &old).unwrap();
    for bug in [false, true] {
        let c = cfg_with(|c| {
            if bug {
                c.bugs.insert(Bug::KraftHwmBeforeEpochStart);
            }
        });
        let mut l = leader_with(c, 2, log_of(&[1, 1, 1]));
        let out = recv(&mut l, N1, fetch(2, 1, 2));
        let Some(Action::Send { msg, .. }) = out.last() else {
            panic!("{out:?}");
        };
        let after = h.record_send(N0, msg).unwrap_or_else(|| h.clone());
        let ok = crate::invariants::monotonic_high_watermark(&[], &after);
        assert_eq!(ok, !bug, "bug {bug}: {msg}");
    }
}

#[test]
fn ignoring_the_diverging_epoch_breaks_log_matching() {
    for bug in [false, true] {
        let c = cfg_with(|c| {
            if bug {
                c.bugs.insert(Bug::KraftIgnoreDivergingEpoch);
            }
        });
        // Node 0 leads epoch 3 over [1, 1]; node 1 holds [1, 2] from a
        // failed leader of epoch 2.
        let mut l = leader_with(c.clone(), 3, log_of(&[1, 1]));
        let (mut f, _) = restore_with(N1, c, hs(3, None, Some(N0)), log_of(&[1, 2]));
        for _ in 0..3 {
            let out = timeout(&mut f, Timer::Fetch);
            let Action::Send { msg, .. } = &out[0] else {
                panic!("{out:?}");
            };
            let answer = recv(&mut l, N1, msg.clone());
            let Some(Action::Send { msg, .. }) = answer.last() else {
                panic!("{answer:?}");
            };
            recv(&mut f, N0, msg.clone());
        }
        let ok = crate::invariants::log_matching(&[l.view(), f.view()], &History::default());
        assert_eq!(ok, !bug, "bug {bug}: {:?} vs {:?}", l.log, f.log);
        if !bug {
            assert_eq!(f.log, l.log);
        }
    }
}

// The seeded random schedules live in the harness crate:
// sim/tests/kraft_random.rs.
