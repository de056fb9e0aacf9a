//! Building blocks of the specs' unit tests (both protocols): entries,
//! request ids, quorums, and a step that checks the node's invariants.
//! Cluster-level tests live in the harness crate (`sim/`).

use crate::node::{Action, Input};
use crate::protocol::Protocol;
use crate::quorum::{Majority, Quorum};
use crate::types::{Entry, NodeId, Payload, RequestId, Term};

/// Node ids from numbers.
pub fn ids(v: &[u32]) -> Vec<NodeId> {
    v.iter().map(|&i| NodeId(i)).collect()
}

/// A simple-majority configuration of `v`.
pub fn simple(v: &[u32]) -> Quorum {
    Quorum::simple(ids(v))
}

/// The joint configuration C_old,new.
pub fn joint(old: &[u32], new: &[u32]) -> Quorum {
    Quorum::Joint {
        old: Majority::new(ids(old)),
        new: Majority::new(ids(new)),
    }
}

/// The request id of the test client's `seq`-th request.
pub fn req(seq: u64) -> RequestId {
    RequestId { client: 7, seq }
}

/// A no-op entry of `term` (KRaft: epoch).
pub fn noop(term: u64) -> Entry {
    Entry {
        term: Term(term),
        payload: Payload::Noop,
    }
}

/// A command of `term` for request `req(seq)`, whose data is `[seq]`.
pub fn cmd(term: u64, seq: u64) -> Entry {
    Entry {
        term: Term(term),
        payload: Payload::Command {
            request: req(seq),
            data: vec![seq as u8],
        },
    }
}

/// A configuration entry of `term` (request `req(0)`).
pub fn config_record(term: u64, quorum: Quorum) -> Entry {
    Entry {
        term: Term(term),
        payload: Payload::Config {
            request: req(0),
            quorum,
        },
    }
}

/// The client proposes `cmd(_, seq)`'s data.
pub fn propose(seq: u64) -> Input {
    Input::Propose {
        request: req(seq),
        data: vec![seq as u8],
    }
}

/// Feeds one input, checks the node's local invariants, returns the
/// actions.
pub fn checked_step<P: Protocol + std::fmt::Debug>(node: &mut P, input: Input) -> Vec<Action> {
    let out = node.step(input);
    assert_eq!(node.validate(), Ok(()), "{node:?}");
    out
}
