//! Membership change on one Raft node, step by step. The scenarios on a
//! cluster run on the harness crate (sim/tests/raft_membership.rs, and the
//! raft-dev 2015 schedule as the scripts sim/testdata/raft-dev-2015*.txt);
//! the exhaustive checks are the model's (`kraftwerk check --reconfig`).

use super::*;
use crate::fixtures::{ids, simple};
use crate::quorum::Quorum;
use crate::types::{Payload, RequestId};

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
