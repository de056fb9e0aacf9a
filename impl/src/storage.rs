//! Durable storage in a data directory: an append-only, checksummed log
//! file and an atomically replaced hard-state file.
//!
//! - `log`: records `len: u32 LE, crc32: u32 LE, bincode(Entry)`. On open,
//!   a bad record (short, over-long, failing its checksum or not decoding)
//!   with no good record anywhere after it is a torn tail, what a crash
//!   during an unsynced append leaves: the file is truncated back to the
//!   last good record and the truncation is reported. A bad record followed
//!   by a good one is damage in the middle of the log, which truncation
//!   could turn into lost acknowledged entries: opening fails, naming the
//!   file and both offsets, and an operator decides. (A crash explains it
//!   only if the file system wrote an unsynced batch's pages out of order;
//!   then the node refuses to start although nothing acknowledged is lost,
//!   the price of never truncating synced records silently.) An index of
//!   record offsets in memory makes [`Storage::truncate`] a `set_len` at a
//!   record boundary.
//! - `hardstate`: `crc32: u32 LE, bincode(HardState)`, written to
//!   `hardstate.tmp`, fsynced, renamed over `hardstate`, and the directory
//!   fsynced. A leftover `hardstate.tmp` (a crash before the rename) is
//!   ignored and removed. The rename makes it all or nothing, so a damaged
//!   `hardstate` is never a crash's doing: opening fails, naming the file
//!   and the offset of what does not check out.
//!
//! Appends are buffered until [`Storage::sync`]: the runtime appends a whole
//! batch of entries and fsyncs once (group commit).

use kraftwerk_specs::node::HardState;
use kraftwerk_specs::types::{Entry, LogIndex};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const RECORD_HEADER: usize = 8;
/// The largest record accepted when reading back (a corrupt length beyond
/// it marks the end of the log).
const MAX_RECORD: usize = 16 << 20;

/// What [`Storage::open`] found on disk.
pub struct Recovered {
    /// The hard state (default when none was ever written).
    pub hard: HardState,
    /// The log entries, index 1 first.
    pub entries: Vec<Entry>,
    /// One line per repair made (a torn tail truncated), for the log.
    pub repairs: Vec<String>,
}

/// The open storage of one node.
pub struct Storage {
    dir: PathBuf,
    log: File,
    /// `offsets[i]` is where the record of index `i + 1` starts.
    offsets: Vec<u64>,
    /// Where the next record goes (the durable end plus `pending`).
    end: u64,
    /// Encoded records not written yet, starting at `end - pending.len()`.
    pending: Vec<u8>,
    /// True when something was written since the last fsync.
    dirty: bool,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

impl Storage {
    /// The log file's path in `dir`.
    pub fn log_path(dir: &Path) -> PathBuf {
        dir.join("log")
    }

    /// The hard-state file's path in `dir`.
    pub fn hard_path(dir: &Path) -> PathBuf {
        dir.join("hardstate")
    }

    /// Opens (creating if needed) the storage in `dir` and reads it back,
    /// repairing a torn or corrupt log tail.
    pub fn open(dir: &Path) -> Result<(Storage, Recovered), String> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, "cannot create data dir", e))?;
        let mut repairs = Vec::new();
        let tmp = dir.join("hardstate.tmp");
        if tmp.exists() {
            let _ = std::fs::remove_file(&tmp);
            repairs.push(format!(
                "ignored leftover {} (crash before rename)",
                tmp.display()
            ));
        }
        let hard_path = Storage::hard_path(dir);
        let hard = match std::fs::read(&hard_path) {
            Ok(bytes) => decode_hard(&bytes)
                .map_err(|why| format!("corrupt hard state file {}: {why}", hard_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HardState::default(),
            Err(e) => return Err(io_err(&hard_path, "cannot read", e)),
        };
        let log_path = Storage::log_path(dir);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(|e| io_err(&log_path, "cannot open", e))?;
        let bytes = std::fs::read(&log_path).map_err(|e| io_err(&log_path, "cannot read", e))?;
        let (entries, offsets, good) = scan(&bytes).map_err(|(at, why, next)| {
            format!(
                "corrupt record in log {} at offset {at} ({why}), followed by a good record \
                 at offset {next}: damage inside the log, not a torn tail, so it is not \
                 truncated away",
                log_path.display()
            )
        })?;
        if good < bytes.len() as u64 {
            log.set_len(good)
                .and_then(|_| log.sync_all())
                .map_err(|e| io_err(&log_path, "cannot truncate", e))?;
            repairs.push(format!(
                "truncated torn or corrupt tail of {} at offset {good} (file was {} bytes)",
                log_path.display(),
                bytes.len()
            ));
        }
        let storage = Storage {
            dir: dir.to_path_buf(),
            log,
            offsets,
            end: good,
            pending: Vec::new(),
            dirty: false,
        };
        Ok((
            storage,
            Recovered {
                hard,
                entries,
                repairs,
            },
        ))
    }

    /// The number of records in the log (written or pending).
    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.offsets.len() as u64)
    }

    /// Appends entries (buffered until [`Storage::sync`]).
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), String> {
        for e in entries {
            let body = bincode::serialize(e).map_err(|e| e.to_string())?;
            self.offsets.push(self.end);
            self.pending
                .extend_from_slice(&(body.len() as u32).to_le_bytes());
            self.pending
                .extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            self.pending.extend_from_slice(&body);
            self.end += (RECORD_HEADER + body.len()) as u64;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<(), String> {
        if !self.pending.is_empty() {
            let at = self.end - self.pending.len() as u64;
            self.log
                .write_all_at(&self.pending, at)
                .map_err(|e| format!("cannot write log: {e}"))?;
            self.pending.clear();
            self.dirty = true;
        }
        Ok(())
    }

    /// Removes every record after `last` (durable at the next sync).
    pub fn truncate(&mut self, last: LogIndex) -> Result<(), String> {
        let keep = last.0 as usize;
        if keep >= self.offsets.len() {
            return Ok(());
        }
        self.flush_pending()?;
        let at = self.offsets[keep];
        self.log
            .set_len(at)
            .map_err(|e| format!("cannot truncate log: {e}"))?;
        self.offsets.truncate(keep);
        self.end = at;
        self.dirty = true;
        Ok(())
    }

    /// Writes what is pending and fsyncs the log (a no-op when clean).
    pub fn sync(&mut self) -> Result<(), String> {
        self.flush_pending()?;
        if self.dirty {
            self.log
                .sync_data()
                .map_err(|e| format!("cannot fsync log: {e}"))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Durably replaces the hard state: temp file, fsync, rename, fsync dir.
    pub fn persist_hard(&self, hard: &HardState) -> Result<(), String> {
        let body = bincode::serialize(hard).map_err(|e| e.to_string())?;
        let mut bytes = crc32fast::hash(&body).to_le_bytes().to_vec();
        bytes.extend_from_slice(&body);
        let tmp = self.dir.join("hardstate.tmp");
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, "cannot create", e))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| io_err(&tmp, "cannot write", e))?;
        let path = Storage::hard_path(&self.dir);
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, "cannot rename onto", e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&self.dir, "cannot fsync", e))
    }
}

/// The hard state in `bytes`, or what is wrong with them (with offsets).
fn decode_hard(bytes: &[u8]) -> Result<HardState, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes, too short for the checksum at offset 0",
            bytes.len()
        ));
    }
    let crc = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if crc32fast::hash(&bytes[4..]) != crc {
        return Err(format!(
            "checksum at offset 0 does not match bytes 4..{} (truncated or damaged)",
            bytes.len()
        ));
    }
    bincode::deserialize(&bytes[4..]).map_err(|e| format!("body at offset 4 does not decode ({e})"))
}

/// Why the record at `at` is not a good one, or its entry and length.
fn record_at(bytes: &[u8], at: usize) -> Result<(Entry, usize), String> {
    let rest = bytes.len() - at;
    if rest < RECORD_HEADER {
        return Err(format!("{rest} bytes, short of a record header"));
    }
    let h = &bytes[at..at + RECORD_HEADER];
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if len > MAX_RECORD {
        return Err(format!("length {len} above the limit of {MAX_RECORD}"));
    }
    let start = at + RECORD_HEADER;
    if bytes.len() - start < len {
        return Err(format!(
            "length {len} but {} bytes left",
            bytes.len() - start
        ));
    }
    let body = &bytes[start..start + len];
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    let entry =
        bincode::deserialize::<Entry>(body).map_err(|e| format!("entry does not decode: {e}"))?;
    Ok((entry, RECORD_HEADER + len))
}

/// True when a good record starts at `at`. The cheap tests come first (the
/// length fits, the body decodes) so that a search through megabytes of
/// garbage or zeros does not checksum a body at every offset.
fn good_record_at(bytes: &[u8], at: usize) -> bool {
    let Some(h) = bytes.get(at..at + RECORD_HEADER) else {
        return false;
    };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let start = at + RECORD_HEADER;
    let Some(body) = bytes.get(start..).and_then(|b| b.get(..len)) else {
        return false;
    };
    len <= MAX_RECORD && bincode::deserialize::<Entry>(body).is_ok() && crc32fast::hash(body) == crc
}

/// Reads records until the end or the first bad one: the entries, their
/// offsets, and the end of the last good record. A bad record with a good
/// one at any later offset is an error: its offset, why it is bad, and
/// where the good one starts.
#[allow(clippy::type_complexity)]
fn scan(bytes: &[u8]) -> Result<(Vec<Entry>, Vec<u64>, u64), (usize, String, usize)> {
    let mut entries = Vec::new();
    let mut offsets = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        match record_at(bytes, at) {
            Ok((e, size)) => {
                offsets.push(at as u64);
                entries.push(e);
                at += size;
            }
            Err(why) => {
                // A bad length hides where the next record starts: try
                // every later offset.
                if let Some(next) = (at + 1..bytes.len()).find(|&o| good_record_at(bytes, o)) {
                    return Err((at, why, next));
                }
                break;
            }
        }
    }
    Ok((entries, offsets, at as u64))
}

/// The runtime's disk under the specs' durable-state rule.
impl kraftwerk_specs::node::DurableStore for Storage {
    type Error = String;
    fn persist_hard(&mut self, hard: &HardState) -> Result<(), String> {
        Storage::persist_hard(self, hard)
    }
    fn truncate(&mut self, last: LogIndex) -> Result<(), String> {
        Storage::truncate(self, last)
    }
    fn append(&mut self, entries: &[Entry]) -> Result<(), String> {
        Storage::append(self, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kraftwerk_specs::types::{Payload, RequestId, Term};

    fn entry(t: u64, seq: u64) -> Entry {
        Entry {
            term: Term(t),
            payload: Payload::Command {
                request: RequestId { client: 1, seq },
                data: vec![seq as u8; 10],
            },
        }
    }

    #[test]
    fn append_truncate_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = Storage::open(dir.path()).unwrap();
        assert!(r.entries.is_empty());
        s.append(&[entry(1, 1), entry(1, 2), entry(1, 3)]).unwrap();
        s.sync().unwrap();
        s.truncate(LogIndex(1)).unwrap();
        s.append(&[entry(2, 4)]).unwrap();
        s.sync().unwrap();
        s.persist_hard(&HardState {
            term: Term(2),
            voted_for: None,
            leader: None,
        })
        .unwrap();
        drop(s);
        let (_, r) = Storage::open(dir.path()).unwrap();
        assert_eq!(r.entries, vec![entry(1, 1), entry(2, 4)]);
        assert_eq!(r.hard.term, Term(2));
        assert!(r.repairs.is_empty());
    }

    #[test]
    fn torn_tail_is_truncated_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Storage::open(dir.path()).unwrap();
        s.append(&[entry(1, 1), entry(1, 2)]).unwrap();
        s.sync().unwrap();
        drop(s);
        let path = Storage::log_path(dir.path());
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let (mut s, r) = Storage::open(dir.path()).unwrap();
        assert_eq!(r.entries, vec![entry(1, 1)]);
        assert_eq!(r.repairs.len(), 1, "{:?}", r.repairs);
        s.append(&[entry(1, 3)]).unwrap();
        s.sync().unwrap();
        drop(s);
        let (_, r) = Storage::open(dir.path()).unwrap();
        assert_eq!(r.entries, vec![entry(1, 1), entry(1, 3)]);
        assert!(r.repairs.is_empty());
    }

    #[test]
    fn damage_inside_the_log_is_an_error_naming_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Storage::open(dir.path()).unwrap();
        s.append(&[entry(1, 1), entry(1, 2), entry(1, 3)]).unwrap();
        s.sync().unwrap();
        let second = s.offsets[1];
        drop(s);
        let path = Storage::log_path(dir.path());
        let good = std::fs::read(&path).unwrap();
        let mut bad = good.clone();
        bad[second as usize + RECORD_HEADER + 2] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let e = Storage::open(dir.path()).err().expect("refused");
        assert!(
            e.contains(&format!("at offset {second} (checksum mismatch)")),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bad, "nothing truncated");
        let mut bad = good.clone();
        bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        let e = Storage::open(dir.path()).err().expect("refused");
        assert!(e.contains("at offset 0 (length 4294967295 above"), "{e}");
        std::fs::write(Storage::hard_path(dir.path()), [1, 2, 3]).unwrap();
        let e = Storage::open(dir.path()).err().expect("refused");
        assert!(
            e.contains("hardstate: 3 bytes, too short for the checksum at offset 0"),
            "{e}"
        );
    }

    #[test]
    fn zero_filled_tail_is_a_torn_tail() {
        // Some file systems leave an extended file's unwritten end zeroed
        // after a crash.
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Storage::open(dir.path()).unwrap();
        s.append(&[entry(1, 1), entry(1, 2)]).unwrap();
        s.sync().unwrap();
        let end = s.end;
        drop(s);
        let path = Storage::log_path(dir.path());
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(end + (1 << 20)).unwrap();
        let (_, r) = Storage::open(dir.path()).unwrap();
        assert_eq!(r.entries, vec![entry(1, 1), entry(1, 2)]);
        assert!(
            r.repairs[0].contains(&format!("at offset {end}")),
            "{:?}",
            r.repairs
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
    }

    #[test]
    fn corrupt_record_and_leftover_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Storage::open(dir.path()).unwrap();
        s.append(&[entry(1, 1), entry(1, 2)]).unwrap();
        s.sync().unwrap();
        let hard = HardState {
            term: Term(3),
            voted_for: Some(kraftwerk_specs::types::NodeId(2)),
            leader: None,
        };
        s.persist_hard(&hard).unwrap();
        drop(s);
        let path = Storage::log_path(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        std::fs::write(dir.path().join("hardstate.tmp"), b"garbage").unwrap();
        let (_, r) = Storage::open(dir.path()).unwrap();
        assert_eq!(r.entries, vec![entry(1, 1)]);
        assert_eq!(r.hard, hard);
        assert_eq!(r.repairs.len(), 2);
        assert!(!dir.path().join("hardstate.tmp").exists());
    }
}
