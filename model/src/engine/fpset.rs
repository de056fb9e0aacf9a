//! A concurrent set of 64-bit fingerprints: lock-striped open-addressing
//! tables. A fingerprint is already a good hash, so the table uses its bits
//! directly (the high bits choose the stripe, the low bits the slot): no
//! re-hashing, no allocation per entry, 8 bytes per state at most twice over.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Number of stripes (a power of two). With 2-16 threads, 256 locks keep
/// contention negligible; each stripe is a cache-friendly table.
const STRIPES: usize = 256;

/// One stripe: linear probing over `u64` slots, 0 meaning empty.
struct Table {
    slots: Vec<u64>,
    len: usize,
}

impl Table {
    fn new() -> Table {
        Table {
            slots: vec![0; 64],
            len: 0,
        }
    }

    /// Inserts `fp` (non-zero); true if it was not there.
    fn insert(&mut self, fp: u64) -> bool {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (fp as usize) & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                self.slots[i] = fp;
                self.len += 1;
                return true;
            }
            if s == fp {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let bigger = vec![0; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, bigger);
        self.len = 0;
        for fp in old.into_iter().filter(|&f| f != 0) {
            self.insert(fp);
        }
    }
}

/// The set.
pub struct FpSet {
    stripes: Vec<Mutex<Table>>,
    len: AtomicUsize,
}

impl Default for FpSet {
    fn default() -> Self {
        FpSet::new()
    }
}

impl FpSet {
    /// An empty set.
    pub fn new() -> FpSet {
        FpSet {
            stripes: (0..STRIPES).map(|_| Mutex::new(Table::new())).collect(),
            len: AtomicUsize::new(0),
        }
    }

    /// Inserts `fp`; true if it was new. Fingerprint 0 is mapped to 1 (the
    /// empty-slot marker), which merges two fingerprints out of 2^64.
    pub fn insert(&self, fp: u64) -> bool {
        let fp = fp.max(1);
        let stripe = (fp >> 56) as usize % STRIPES;
        // Slot bits come from the low end, stripe bits from the high end.
        let new = self.stripes[stripe]
            .lock()
            .expect("no panics under the lock")
            .insert(fp);
        if new {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        new
    }

    /// Distinct fingerprints inserted.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the tables.
    pub fn bytes(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().map_or(0, |t| t.slots.len() * 8))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_once_each() {
        let set = FpSet::new();
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut fps = Vec::new();
        for _ in 0..100_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            fps.push(x);
        }
        for &f in &fps {
            assert!(set.insert(f));
        }
        for &f in &fps {
            assert!(!set.insert(f));
        }
        assert_eq!(set.len(), fps.len());
    }
}
