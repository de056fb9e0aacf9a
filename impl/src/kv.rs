//! The key-value state machine, fed by committed entries (`Action::Apply`).
//!
//! A command is bincode-encoded into the entry's `Payload::Command` data.
//! Reads (`Get`) go through the log like writes, which makes them
//! linearizable without leases or read-index.

use kraftwerk_specs::types::{Entry, Payload, RequestId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A client command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Reads `key`.
    Get {
        /// The key.
        key: Vec<u8>,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Sets `key` to `new` (removes it when `None`) if its value is
    /// `expected` (absent when `None`).
    Cas {
        /// The key.
        key: Vec<u8>,
        /// The value required.
        expected: Option<Vec<u8>>,
        /// The value to set.
        new: Option<Vec<u8>>,
    },
}

/// The result of an applied command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A put or delete took effect; the previous value.
    Done(Option<Vec<u8>>),
    /// A get's value.
    Value(Option<Vec<u8>>),
    /// A compare-and-set: whether it swapped, and the value before.
    Cas {
        /// True when the value matched and was replaced.
        swapped: bool,
        /// The value before.
        previous: Option<Vec<u8>>,
    },
    /// The entry's data is not a command (ignored by the state machine).
    Invalid,
    /// A membership change completed (its final configuration committed).
    Reconfigured,
}

/// The map, plus each client's latest outcome (to answer a retried request
/// that was already applied, and to apply each request once).
#[derive(Default)]
pub struct Kv {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    latest: HashMap<u64, (u64, Outcome)>,
    /// The index of the last entry applied.
    applied: u64,
}

impl Kv {
    /// Applies the committed entry at `index` (entries come in index order).
    pub fn apply_at(&mut self, index: u64, entry: &Entry) {
        self.applied = index;
        self.apply(entry);
    }

    /// The index of the last entry given to [`Kv::apply_at`].
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// A digest of the map (not of the de-duplication table): two nodes
    /// that applied the same entries have the same digest. FNV-1a over
    /// the length-prefixed keys and values in key order.
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for (k, v) in &self.map {
            eat(k);
            eat(v);
        }
        h
    }

    /// Applies one committed entry.
    pub fn apply(&mut self, entry: &Entry) {
        let Payload::Command { request, data } = &entry.payload else {
            return;
        };
        if let Some((seq, _)) = self.latest.get(&request.client) {
            if *seq >= request.seq {
                return; // applied already (a duplicate in the log)
            }
        }
        let outcome = match bincode::deserialize::<Command>(data) {
            Ok(cmd) => self.execute(cmd),
            Err(_) => Outcome::Invalid,
        };
        self.latest.insert(request.client, (request.seq, outcome));
    }

    fn execute(&mut self, cmd: Command) -> Outcome {
        match cmd {
            Command::Put { key, value } => Outcome::Done(self.map.insert(key, value)),
            Command::Get { key } => Outcome::Value(self.map.get(&key).cloned()),
            Command::Delete { key } => Outcome::Done(self.map.remove(&key)),
            Command::Cas { key, expected, new } => {
                let previous = self.map.get(&key).cloned();
                let swapped = previous == expected;
                if swapped {
                    match new {
                        Some(v) => self.map.insert(key, v),
                        None => self.map.remove(&key),
                    };
                }
                Outcome::Cas { swapped, previous }
            }
        }
    }

    /// The outcome of `request`, if it is its client's latest applied one.
    pub fn outcome(&self, request: RequestId) -> Option<Outcome> {
        match self.latest.get(&request.client) {
            Some((seq, o)) if *seq == request.seq => Some(o.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraftwerk_specs::types::Term;

    fn cmd(client: u64, seq: u64, c: &Command) -> Entry {
        Entry {
            term: Term(1),
            payload: Payload::Command {
                request: RequestId { client, seq },
                data: bincode::serialize(c).unwrap(),
            },
        }
    }

    #[test]
    fn put_get_cas_delete_once() {
        let mut kv = Kv::default();
        let k = b"k".to_vec();
        let put = cmd(
            1,
            1,
            &Command::Put {
                key: k.clone(),
                value: b"a".to_vec(),
            },
        );
        kv.apply(&put);
        kv.apply(&put); // a duplicate is applied once
        let cas = Command::Cas {
            key: k.clone(),
            expected: Some(b"a".to_vec()),
            new: Some(b"b".to_vec()),
        };
        kv.apply(&cmd(1, 2, &cas));
        assert_eq!(
            kv.outcome(RequestId { client: 1, seq: 2 }),
            Some(Outcome::Cas {
                swapped: true,
                previous: Some(b"a".to_vec())
            })
        );
        kv.apply(&cmd(1, 3, &cas));
        assert_eq!(
            kv.outcome(RequestId { client: 1, seq: 3 }),
            Some(Outcome::Cas {
                swapped: false,
                previous: Some(b"b".to_vec())
            })
        );
        kv.apply(&cmd(2, 1, &Command::Delete { key: k.clone() }));
        kv.apply(&cmd(2, 2, &Command::Get { key: k }));
        assert_eq!(
            kv.outcome(RequestId { client: 2, seq: 2 }),
            Some(Outcome::Value(None))
        );
    }

    #[test]
    fn digest_follows_the_map_only() {
        let put = |key: &[u8], value: &[u8]| Command::Put {
            key: key.to_vec(),
            value: value.to_vec(),
        };
        let (mut a, mut b) = (Kv::default(), Kv::default());
        assert_eq!(a.digest(), b.digest());
        a.apply_at(1, &cmd(1, 1, &put(b"x", b"1")));
        a.apply_at(2, &cmd(1, 2, &put(b"y", b"2")));
        // Same map, other order, other client: same digest.
        b.apply_at(1, &cmd(7, 1, &put(b"y", b"2")));
        assert_ne!(a.digest(), b.digest());
        b.apply_at(2, &cmd(7, 2, &put(b"x", b"1")));
        assert_eq!(a.digest(), b.digest());
        assert_eq!((a.applied(), b.applied()), (2, 2));
        // Key/value boundaries count: ("ab","c") differs from ("a","bc").
        let (mut c, mut d) = (Kv::default(), Kv::default());
        c.apply_at(1, &cmd(1, 1, &put(b"ab", b"c")));
        d.apply_at(1, &cmd(1, 1, &put(b"a", b"bc")));
        assert_ne!(c.digest(), d.digest());
        b.apply_at(3, &cmd(7, 3, &Command::Delete { key: b"x".to_vec() }));
        assert_ne!(a.digest(), b.digest());
    }
}
