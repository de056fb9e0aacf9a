//! Storage recovery with real processes: a node killed with SIGKILL, its
//! files damaged the way a crash can damage them, restarted.
//!
//! - A torn record (a write cut short) and a record with a bad checksum at
//!   the log's tail are truncated away on restart, reported in one line
//!   naming the file and offset, and every acknowledged write survives.
//! - A crash between writing the temporary hard-state file and renaming it
//!   leaves `hardstate.tmp` behind: it is ignored, and the term survives.

use kraftwerk_tests::node::{Cluster, NodeStatus};
use std::io::Write;
use std::time::Duration;

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
