//! Storage recovery with real processes: a node killed with SIGKILL, its
//! files damaged the way a crash can damage them, restarted.
//!
//! - A torn record (a write cut short) and a record with a bad checksum at
//!   the log's tail are truncated away on restart, reported in one line
//!   naming the file and offset, and every acknowledged write survives.
//! - A crash between writing the temporary hard-state file and renaming it
//!   leaves `hardstate.tmp` behind: it is ignored, and the term survives.
//!
//! Damage no crash explains stops the node instead: `serve` exits non-zero
//! with one line naming the file and the byte offset, and leaves the files
//! as they were (once repaired, every write is back):
//!
//! - a record in the middle of the log with a flipped bit (a good record
//!   follows it, so it is not a torn tail);
//! - a garbage record header, at the start of the log or in its middle;
//! - a hard-state file truncated (to nothing, to less than its checksum, to
//!   part of its body) or with a flipped bit.

use kraftwerk_tests::node::{kraftwerk_node, Cluster, NodeStatus};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

fn status_of(c: &Cluster, id: u32) -> NodeStatus {
    c.status().remove(&id).flatten().expect("node reachable")
}

fn append_to(path: &std::path::Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open log");
    f.write_all(bytes).expect("append");
}

#[test]
fn torn_and_corrupt_log_tails_are_truncated_on_restart() {
    let mut c = Cluster::new("raft", 1);
    c.start_all();
    c.wait_leader(&[1], LIMIT);
    for i in 0..5 {
        c.put(&[], &format!("k{i}"), &format!("v{i}"));
    }
    let before = status_of(&c, 1);
    c.kill(1);

    let log = c.data_dir(1).join("log");
    let good_len = std::fs::metadata(&log).unwrap().len();
    // A torn record: a header promising 100 bytes, then only 10.
    append_to(
        &log,
        &[&100u32.to_le_bytes()[..], &[0; 4], &[7; 10]].concat(),
    );
    c.start(1);
    c.wait_leader(&[1], LIMIT);
    for i in 0..5 {
        assert_eq!(c.get(&[], &format!("k{i}")), format!("v{i}"));
    }
    let text = std::fs::read_to_string(c.log_file(1)).unwrap();
    let line = format!("{} at offset {good_len}", log.display());
    assert!(text.contains(&line), "report names file and offset: {text}");
    assert!(status_of(&c, 1).log_end > before.log_end);
    c.kill(1);

    // A whole record whose checksum does not match.
    let good_len = std::fs::metadata(&log).unwrap().len();
    append_to(
        &log,
        &[&4u32.to_le_bytes()[..], &[1, 2, 3, 4], &[5, 6, 7, 8]].concat(),
    );
    c.start(1);
    c.wait_leader(&[1], LIMIT);
    assert_eq!(c.get(&[], "k4"), "v4");
    c.put(&[], "after", "repair");
    assert_eq!(c.get(&[], "after"), "repair");
    let text = std::fs::read_to_string(c.log_file(1)).unwrap();
    assert!(text.contains(&format!("at offset {good_len}")), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn leftover_hard_state_temp_file_is_ignored() {
    let mut c = Cluster::new("raft", 1);
    c.start_all();
    c.wait_leader(&[1], LIMIT);
    c.put(&[], "k", "v");
    let term = status_of(&c, 1).term;
    c.kill(1);
    // A crash after writing the temp file but before the rename.
    std::fs::write(c.data_dir(1).join("hardstate.tmp"), b"half-written").unwrap();
    c.start(1);
    c.wait_leader(&[1], LIMIT);
    let st = status_of(&c, 1);
    assert!(
        st.term > term,
        "term {} after restart, {term} before",
        st.term
    );
    assert_eq!(c.get(&[], "k"), "v");
    let text = std::fs::read_to_string(c.log_file(1)).unwrap();
    assert!(text.contains("ignored leftover"), "{text}");
}

/// Runs `serve` for node `id` on its own, expecting it to fail at once:
/// its exit code and stderr.
fn serve_fails(c: &Cluster, id: u32) -> (i32, String) {
    let mut child = Command::new(kraftwerk_node())
        .args(c.serve_args(id))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kraftwerk-node");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve still running after {LIMIT:?} on damaged files");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {status:?}, stderr: {stderr}"));
    (code, stderr)
}

/// Asserts a refusal to start: non-zero exit, one line on stderr naming
/// `file` and `at offset {offset}`, no panic.
fn assert_refused(c: &Cluster, id: u32, file: &Path, offset: usize) -> String {
    let (code, stderr) = serve_fails(c, id);
    assert_ne!(code, 0, "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("kraftwerk-node: error: "), "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "names {}: {stderr}",
        file.display()
    );
    assert!(
        stderr.contains(&format!("at offset {offset}")),
        "names offset {offset}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Where each record of a log file starts (`len: u32, crc: u32, body`).
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = 0;
    let mut offsets = Vec::new();
    while at + 8 <= bytes.len() {
        offsets.push(at);
        at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    assert_eq!(at, bytes.len(), "the log parses as whole records");
    offsets
}

/// A one-node cluster holding `k0..k5`, killed: the cluster and its log.
fn stopped_node_with_data() -> (Cluster, Vec<u8>) {
    let mut c = Cluster::new("raft", 1);
    c.start_all();
    c.wait_leader(&[1], LIMIT);
    for i in 0..6 {
        c.put(&[], &format!("k{i}"), &format!("v{i}"));
    }
    c.kill(1);
    let log = std::fs::read(c.data_dir(1).join("log")).unwrap();
    (c, log)
}

/// With the files restored, the node starts and still has every write.
fn restored_node_serves(c: &mut Cluster) {
    c.start(1);
    c.wait_leader(&[1], LIMIT);
    for i in 0..6 {
        assert_eq!(c.get(&[], &format!("k{i}")), format!("v{i}"));
    }
    let text = std::fs::read_to_string(c.log_file(1)).unwrap();
    assert!(!text.contains("truncated"), "{text}");
}

#[test]
fn damage_inside_the_log_stops_the_node_and_truncates_nothing() {
    let (mut c, good) = stopped_node_with_data();
    let path = c.data_dir(1).join("log");
    let offsets = record_offsets(&good);
    assert!(offsets.len() >= 7, "no-op and six puts: {offsets:?}");
    let mid = offsets[offsets.len() / 2];

    // A flipped bit in the body of a record in the middle.
    let mut bad = good.clone();
    bad[mid + 10] ^= 0x10;
    std::fs::write(&path, &bad).unwrap();
    let line = assert_refused(&c, 1, &path, mid);
    assert!(line.contains("checksum"), "{line}");
    assert_eq!(std::fs::read(&path).unwrap(), bad, "the log was left alone");

    // A garbage header on the first record: a length beyond any record.
    let mut bad = good.clone();
    bad[..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04]);
    std::fs::write(&path, &bad).unwrap();
    assert_refused(&c, 1, &path, 0);
    assert_eq!(std::fs::read(&path).unwrap(), bad);

    // A garbage header in the middle whose length still fits in the file.
    let mut bad = good.clone();
    bad[mid..mid + 8].copy_from_slice(&[3, 0, 0, 0, 9, 9, 9, 9]);
    std::fs::write(&path, &bad).unwrap();
    assert_refused(&c, 1, &path, mid);

    std::fs::write(&path, &good).unwrap();
    restored_node_serves(&mut c);
}

#[test]
fn damaged_hard_state_stops_the_node() {
    let (mut c, _) = stopped_node_with_data();
    let path = c.data_dir(1).join("hardstate");
    let good = std::fs::read(&path).unwrap();
    assert!(good.len() > 6, "{} bytes", good.len());
    for (what, bad) in [
        ("empty", Vec::new()),
        ("shorter than its checksum", good[..2].to_vec()),
        ("cut in its body", good[..good.len() - 3].to_vec()),
        ("a flipped bit", {
            let mut b = good.clone();
            b[5] ^= 1;
            b
        }),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let line = assert_refused(&c, 1, &path, 0);
        assert_eq!(std::fs::read(&path).unwrap(), bad, "{what}: left alone");
        assert!(line.contains("hard state"), "{what}: {line}");
    }
    std::fs::write(&path, &good).unwrap();
    restored_node_serves(&mut c);
}
