//! Real three-node clusters (Raft and KRaft) on 127.0.0.1: elect a leader,
//! write and read through any node, kill -9 the leader, check that every
//! acknowledged write survives under the new leader, restart the killed
//! node and watch it catch up. Also: bad frames and bad usage.

use kraftwerk_impl::codec;
use kraftwerk_impl::kv::{Command as KvCommand, Outcome};
use kraftwerk_impl::proto::{ClientMsg, ClientResp};
use kraftwerk_specs::types::RequestId;
use kraftwerk_tests::node::{kraftwerk_node, wait_for, Cluster, TempDir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn kill_leader_and_recover(protocol: &str) {
    let mut c = Cluster::new(protocol, 3);
    c.start_all();
    let leader = c.wait_leader(&[1, 2, 3], LIMIT);
    let mut acked = Vec::new();
    for (i, via) in [1, 2, 3, 1, 2, 3].into_iter().enumerate() {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        c.put(&[via], &k, &v);
        acked.push((k, v));
    }
    for via in 1..=3 {
        assert_eq!(c.get(&[via], "k0"), "v0", "read through n{via}");
    }

    c.kill(leader);
    let others: Vec<u32> = (1..=3).filter(|&i| i != leader).collect();
    let new_leader = c.wait_leader(&others, LIMIT);
    assert_ne!(new_leader, leader);
    for (k, v) in &acked {
        assert_eq!(&c.get(&others, k), v, "acknowledged {k} survives");
    }
    c.put(&others, "after", "crash");
    acked.push(("after".into(), "crash".into()));

    c.start(leader);
    wait_for(LIMIT, "the restarted node to catch up", || {
        let st = c.status();
        let me = st.get(&leader)?.as_ref()?;
        let others_end = st
            .values()
            .flatten()
            .filter(|s| s.id != leader)
            .map(|s| s.log_end)
            .max()?;
        (me.log_end >= others_end && me.commit >= others_end).then_some(())
    });
    for (k, v) in &acked {
        assert_eq!(&c.get(&[], k), v);
    }
}

#[test]
fn raft_cluster_survives_leader_kill() {
    kill_leader_and_recover("raft");
}

#[test]
fn kraft_cluster_survives_leader_kill() {
    kill_leader_and_recover("kraft");
}

#[test]
fn bad_frames_are_dropped_and_the_node_keeps_serving() {
    let mut c = Cluster::new("raft", 1);
    c.start_all();
    c.wait_leader(&[1], LIMIT);
    let peer = c.peers[&1].clone();
    let client = c.clients[&1].clone();
    let v = codec::VERSION.to_le_bytes();
    let frames: Vec<Vec<u8>> = vec![
        // Oversized length prefix.
        u32::MAX.to_le_bytes().to_vec(),
        // Wrong version and cluster, then garbage body.
        [&14u32.to_le_bytes()[..], &[9, 0], &[7; 8], &[1, 2, 3, 4]].concat(),
        [&14u32.to_le_bytes()[..], &v, &[7; 8], &[1, 2, 3, 4]].concat(),
        [&14u32.to_le_bytes()[..], &v, &[0; 8], &[0xff; 4]].concat(),
        // Torn frame: the connection closes mid-frame.
        [&100u32.to_le_bytes()[..], &v].concat(),
    ];
    for addr in [&peer, &client] {
        for f in &frames {
            let mut s = TcpStream::connect(addr).expect("connect");
            let _ = s.write_all(f);
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    }
    c.put(&[], "still", "serving");
    assert_eq!(c.get(&[], "still"), "serving");
    assert!(c.alive(1));
    let st = c.status()[&1].clone().expect("status");
    // Every frame above is bad except the torn one (a closed connection).
    assert_eq!(st.bad_frames, 2 * (frames.len() as u64 - 1), "{st:?}");
    let log = std::fs::read_to_string(c.log_file(1)).unwrap_or_default();
    assert!(log.contains("dropped bad peer frame"), "{log}");
    assert!(log.contains("dropped bad client frame"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

fn assert_one_line_exit_2(out: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("kraftwerk-node: error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} in {stderr}");
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    let bin = kraftwerk_node();
    let out = Command::new(&bin)
        .args(["serve", "--id", "1", "--bogus"])
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, "--bogus");

    let out = Command::new(&bin)
        .args(["serve", "--id", "1", "--peers", "1=", "--data-dir", "x"])
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, "empty address");

    // A data dir that is a file.
    let dir = TempDir::new("bad-usage");
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let c = Cluster::new("raft", 1);
    let mut args = c.serve_args(1);
    let at = args.iter().position(|a| a == "--data-dir").unwrap();
    args[at + 1] = file.display().to_string();
    let out = Command::new(&bin).args(&args).output().unwrap();
    assert_one_line_exit_2(&out, "data dir");

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut args = c.serve_args(1);
    let at = args.iter().position(|a| a == "--peers").unwrap();
    args[at + 1] = format!("1={}", taken.local_addr().unwrap());
    let at = args.iter().position(|a| a == "--data-dir").unwrap();
    args[at + 1] = dir.path().join("d").display().to_string();
    let out = Command::new(&bin).args(&args).output().unwrap();
    assert_one_line_exit_2(&out, "cannot listen");
}

/// Sends one client frame and reads the answer, over a blocking socket.
fn ask(addr: &str, msg: &ClientMsg) -> ClientResp {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut buf = Vec::new();
    codec::encode(0, msg, &mut buf).expect("encode");
    s.write_all(&buf).expect("send");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("answer length");
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut body).expect("answer");
    codec::decode(0, &body).expect("decode")
}

#[test]
fn a_retried_request_is_applied_once() {
    let mut c = Cluster::new("raft", 3);
    c.start_all();
    let leader = c.wait_leader(&[1, 2, 3], LIMIT);
    let addr = c.clients[&leader].clone();
    let end = |c: &Cluster| c.status()[&leader].as_ref().map(|s| s.log_end);
    let before = end(&c).expect("leader status");
    let request = RequestId { client: 77, seq: 1 };
    let put = ClientMsg::Command {
        request,
        cmd: KvCommand::Put {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
        },
    };
    for _ in 0..3 {
        match ask(&addr, &put) {
            ClientResp::Done(Outcome::Done(None)) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(end(&c), Some(before + 1), "one entry for three sends");
    // A follower answers with a hint naming the leader's client address.
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    match ask(&c.clients[&follower], &put) {
        ClientResp::NotLeader {
            leader: Some(l),
            addr: Some(a),
        } => {
            assert_eq!((l, a), (leader, addr));
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Joint consensus on a real cluster: voters {1,2,3} and a non-voter 4;
/// replace 1 by 4, then 1 can be killed and the cluster still writes with
/// {2,3,4}, and every acknowledged write is there.
fn replace_a_voter(protocol: &str) {
    let mut c = Cluster::new(protocol, 4);
    c.observers = vec![4];
    c.start_all();
    c.wait_leader(&[1, 2, 3], LIMIT);
    c.put(&[], "before", "change");
    let out = c.cli(&[], &["reconfig", "--add", "4", "--remove", "1"]);
    assert!(
        out.status.success(),
        "reconfig: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The change is committed: n1 may go, and n4's vote now counts.
    c.kill(1);
    c.put(&[2, 3, 4], "after", "change");
    c.kill(2);
    c.start(2);
    c.wait_leader(&[2, 3, 4], LIMIT);
    assert_eq!(c.get(&[2, 3, 4], "before"), "change");
    assert_eq!(c.get(&[2, 3, 4], "after"), "change");
    // A change that changes nothing is refused in one line.
    let out = c.cli(&[2, 3, 4], &["reconfig", "--add", "4"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused") && err.lines().count() == 1, "{err}");
}

#[test]
fn raft_cluster_replaces_a_voter_by_joint_consensus() {
    replace_a_voter("raft");
}

#[test]
fn kraft_cluster_replaces_a_voter_by_joint_consensus() {
    replace_a_voter("kraft");
}
