//! Property tests of the message vocabulary: every [`Message`] survives a
//! serde_json round trip unchanged.
//!
//! The random schedules on a three-node Raft cluster that lived here run
//! on the harness crate now: sim/tests/raft_random.rs.

use kraftwerk_specs::message::{
    AppendEntries, AppendResponse, ClientReply, ClientRequest, Message, RequestVote, VoteResponse,
};
use kraftwerk_specs::types::{Entry, LogIndex, Payload, RequestId, Term};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

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
