//! Monotonic high watermark (KRaft): the high watermark the cluster exposes
//! never goes back.
//!
//! Kafka's `RaftEventSimulationTest.MonotonicHighWatermark` samples the high
//! watermark of the leader with the largest epoch after every event and
//! fails if it ever decreases. This is why a new KRaft leader forgets the
//! high watermark it had as a follower and exposes none until a majority
//! has reached its epoch's start offset (KIP-595). A follower's high
//! watermark is local and volatile, so the property is about what leaders
//! advertise: the ghost [`History`] records, per epoch, the highest high
//! watermark its leader put in a FetchResponse, and notes the first time a
//! leader advertised less than one already advertised in its epoch or an
//! earlier one. (A deposed leader of an older epoch may still advertise; it
//! is compared only with older epochs, as Kafka ignores it too.)

use super::sometimes::{ENTRY_COMMITTED, HWM_IN_SECOND_EPOCH};
use super::{History, NodeView, Property, KRAFT};

/// Its registry entry ([`super::REGISTRY`]).
pub const PROPERTY: Property = Property::always(
    "monotonic-high-watermark",
    KRAFT,
    &[&ENTRY_COMMITTED, &HWM_IN_SECOND_EPOCH],
    |w| monotonic_high_watermark(w.live, w.history),
);

/// True when no leader ever advertised a high watermark below one advertised
/// before in the same or an earlier epoch.
pub fn monotonic_high_watermark(_nodes: &[NodeView<'_>], history: &History) -> bool {
    history.hwm_regression.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{FetchResponse, Message};
    use crate::types::{LogIndex, NodeId, Term};

    fn advertise(h: &History, leader: u32, epoch: u64, hwm: u64) -> History {
        let m = Message::FetchResponse(FetchResponse {
            epoch: Term(epoch),
            leader: Some(NodeId(leader)),
            error: None,
            fetch_offset: LogIndex(hwm),
            last_fetched_epoch: Term(epoch),
            records: vec![],
            high_watermark: Some(LogIndex(hwm)),
            diverging: None,
        });
        h.record_send(NodeId(leader), &m)
            .unwrap_or_else(|| h.clone())
    }

    #[test]
    fn a_lower_watermark_in_a_later_epoch_violates() {
        let h = advertise(&History::default(), 0, 1, 5);
        let h = advertise(&h, 0, 1, 6);
        assert!(monotonic_high_watermark(&[], &h));
        // A deposed leader of epoch 1 may lag behind epoch 2's leader.
        let later = advertise(&h, 1, 2, 7);
        let stale = advertise(&later, 0, 1, 6);
        assert!(monotonic_high_watermark(&[], &stale));
        // Epoch 2's leader going below what epoch 1 advertised is not.
        let back = advertise(&h, 1, 2, 3);
        assert!(!monotonic_high_watermark(&[], &back));
        assert_eq!(back.hwm_regression.unwrap().earlier, LogIndex(6));
    }
}
