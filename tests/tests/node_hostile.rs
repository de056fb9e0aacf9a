//! Hostile input on the live ports of a real cluster.
//!
//! A running three-node cluster gets, on every node's peer and client
//! ports: random bytes, truncated valid frames, valid frames with another
//! cluster id or an unknown sender, oversized length prefixes, half-open
//! connections that never finish a frame (some promising 16 MiB), and a
//! few hundred connections at once. Meanwhile and afterwards every process
//! is alive, none logged a panic, none holds the memory its half-open
//! connections promised, every node counted the bad frames, and the
//! cluster serves puts and linearizable gets and, its leader killed,
//! elects another.
//!
//! A node started with another `--cluster-id` cannot join: its frames are
//! counted as bad by the others, it never leads nor gets an entry, and the
//! cluster keeps serving.

use kraftwerk_impl::codec::{self, MAX_FRAME};
use kraftwerk_impl::kv::Command as KvCommand;
use kraftwerk_impl::proto::{ClientMsg, ClientResp, PeerFrame};
use kraftwerk_specs::message::{AppendEntries, Message, RequestVote};
use kraftwerk_specs::types::{Entry, LogIndex, Payload, RequestId, Term};
use kraftwerk_tests::node::{
    free_port, kraftwerk_node, parse_status, wait_for, Cluster, NodeStatus,
};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);
/// The cluster id of the tests' clusters (`serve`'s default).
const OURS: u64 = 0;
const OTHER: u64 = 0xbad_c1a5;

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Sends `bytes` on a fresh connection, then closes it. Writes may fail
/// once the node has hung up on garbage; that is its right.
fn send_and_close(addr: &str, bytes: &[u8]) {
    let mut s = connect(addr);
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    // Drain whatever the node answers until it closes.
    let _ = s.read_to_end(&mut Vec::new());
}

/// Reads one client answer frame (of our cluster id).
fn read_resp(s: &mut TcpStream) -> Option<ClientResp> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(codec::decode::<ClientResp>(OURS, &body).expect("the node's answer decodes"))
}

fn frame_client(cluster: u64, m: &ClientMsg) -> Vec<u8> {
    let mut buf = Vec::new();
    codec::encode(cluster, m, &mut buf).unwrap();
    buf
}

fn frame_peer(cluster: u64, from: u32, msg: Message) -> Vec<u8> {
    let mut buf = Vec::new();
    codec::encode(cluster, &PeerFrame { from, msg }, &mut buf).unwrap();
    buf
}

/// Valid frames of both kinds, the peer ones from node `from`.
fn valid_frames(cluster: u64, from: u32) -> Vec<Vec<u8>> {
    let put = ClientMsg::Command {
        request: RequestId {
            client: 0xfeed,
            seq: 1,
        },
        cmd: KvCommand::Put {
            key: b"hostile".to_vec(),
            value: vec![b'x'; 300],
        },
    };
    let append = Message::AppendEntries(AppendEntries {
        term: Term(1),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        entries: vec![Entry {
            term: Term(1),
            payload: Payload::Noop,
        }],
        leader_commit: LogIndex(0),
    });
    let vote = Message::RequestVote(RequestVote {
        term: Term(1),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
    });
    vec![
        frame_client(cluster, &ClientMsg::Status),
        frame_client(cluster, &put),
        frame_peer(cluster, from, append),
        frame_peer(cluster, from, vote),
    ]
}

fn statuses(c: &Cluster) -> BTreeMap<u32, NodeStatus> {
    wait_for(LIMIT, "every node's status", || {
        let st = c.status();
        st.values()
            .all(Option::is_some)
            .then(|| st.into_iter().map(|(i, s)| (i, s.unwrap())).collect())
    })
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Puts a fresh key through any node and reads it back through the log.
fn serves(c: &Cluster, key: &str) {
    c.put(&[], key, "still-here");
    assert_eq!(c.get(&[], key), "still-here");
}

fn assert_healthy(c: &mut Cluster) {
    let ids: Vec<u32> = c.peers.keys().copied().collect();
    for id in ids {
        assert!(c.alive(id), "node {id} died");
        let log = std::fs::read_to_string(c.log_file(id)).unwrap();
        assert!(!log.contains("panicked"), "node {id} panicked: {log}");
    }
}

#[test]
fn garbage_on_every_port_leaves_the_cluster_serving() {
    let mut c = Cluster::new("raft", 3);
    c.start_all();
    c.wait_leader(&[1, 2, 3], LIMIT);
    serves(&c, "before");
    let before = statuses(&c);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let targets: Vec<(u32, &'static str, String)> = c
        .peers
        .iter()
        .map(|(&i, a)| (i, "peer", a.clone()))
        .chain(c.clients.iter().map(|(&i, a)| (i, "client", a.clone())))
        .collect();
    let pids: BTreeMap<u32, u32> = c.procs.iter().map(|(&i, p)| (i, p.id())).collect();
    let rss_before: BTreeMap<u32, u64> = pids.iter().map(|(&i, &p)| (i, rss_kib(p))).collect();

    // Half-open connections, kept open through everything below: silent
    // ones, ones that stop inside the length prefix, and ones that promise
    // the largest frame and send a few bytes of it.
    let mut half_open = Vec::new();
    for (_, _, addr) in &targets {
        for k in 0..24 {
            let mut s = connect(addr);
            match k % 3 {
                0 => {}
                1 => s.write_all(&[0x10, 0x00]).unwrap(),
                _ => {
                    s.write_all(&(MAX_FRAME as u32).to_le_bytes()).unwrap();
                    s.write_all(&rng.bytes(100)).unwrap();
                }
            }
            half_open.push(s);
        }
    }

    for (id, kind, addr) in &targets {
        // Random bytes.
        for _ in 0..10 {
            let n = 1 + rng.below(4096);
            send_and_close(addr, &rng.bytes(n));
        }
        // Truncated valid frames.
        for f in valid_frames(OURS, 1 + id % 3) {
            for _ in 0..3 {
                let cut = 1 + rng.below(f.len() - 1);
                send_and_close(addr, &f[..cut]);
            }
        }
        // Valid frames with a lying length prefix (shorter than the body:
        // the rest reads as the next frame).
        for f in valid_frames(OURS, 1 + id % 3) {
            let mut f = f.clone();
            let len = u32::from_le_bytes(f[..4].try_into().unwrap());
            f[..4].copy_from_slice(&(len / 2).to_le_bytes());
            send_and_close(addr, &f);
        }
        // Oversized length prefixes: the node hangs up (a client first
        // hears why).
        for len in [MAX_FRAME as u32 + 1, u32::MAX] {
            let mut s = connect(addr);
            s.write_all(&len.to_le_bytes()).unwrap();
            if *kind == "client" {
                match read_resp(&mut s) {
                    Some(ClientResp::Error(e)) => assert!(e.contains("oversized"), "{e}"),
                    other => panic!("n{id} answered an oversized frame with {other:?}"),
                }
            }
            let mut rest = Vec::new();
            match s.read_to_end(&mut rest) {
                Ok(_) => assert!(rest.is_empty(), "n{id} {kind}: more after hanging up"),
                Err(e) => assert!(
                    !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "n{id} {kind}: connection still open after an oversized frame"
                ),
            }
        }
        // Frames of another cluster, and peer frames from unknown or
        // impossible senders: dropped, and the connection stays usable.
        let mut s = connect(addr);
        for f in valid_frames(OTHER, 1 + id % 3) {
            s.write_all(&f).unwrap();
        }
        if *kind == "peer" {
            let hb = valid_frames(OURS, 99).pop().unwrap();
            s.write_all(&hb).unwrap();
            let own = frame_peer(
                OURS,
                *id,
                Message::RequestVote(RequestVote {
                    term: Term(0),
                    last_log_index: LogIndex(0),
                    last_log_term: Term(0),
                }),
            );
            s.write_all(&own).unwrap();
        } else {
            for _ in 0..4 {
                match read_resp(&mut s) {
                    Some(ClientResp::Error(e)) => assert!(e.contains("cluster id"), "{e}"),
                    other => panic!("n{id} answered a foreign frame with {other:?}"),
                }
            }
            // Still in sync: a valid request on the same connection works.
            s.write_all(&frame_client(OURS, &ClientMsg::Status))
                .unwrap();
            match read_resp(&mut s) {
                Some(ClientResp::Status(st)) => assert_eq!(st.id, *id),
                other => panic!("n{id}: status after foreign frames gave {other:?}"),
            }
        }
        drop(s);
    }

    // Many connections at once, each with a burst of garbage.
    let mut many = Vec::new();
    for (_, _, addr) in &targets {
        for _ in 0..60 {
            many.push(connect(addr));
        }
    }
    for s in &mut many {
        let n = 1 + rng.below(512);
        let _ = s.write_all(&rng.bytes(n));
    }

    // The cluster serves through all of it.
    assert_healthy(&mut c);
    serves(&c, "during");
    drop(many);

    // Nothing held what the half-open connections promised (8 of them per
    // port promise 16 MiB each).
    for (&id, &pid) in &pids {
        let grew = rss_kib(pid).saturating_sub(rss_before[&id]);
        println!("n{id}: resident memory grew by {grew} KiB");
        assert!(
            grew < 64 << 10,
            "n{id} grew by {grew} KiB with half-open connections"
        );
    }

    // Every node counted what it dropped: at least the four foreign frames
    // on each port and the two bad senders on the peer port.
    let after = statuses(&c);
    for (id, b) in &before {
        let a = &after[id];
        println!("n{id}: bad_frames {} -> {}", b.bad_frames, a.bad_frames);
        assert!(
            a.bad_frames >= b.bad_frames + 10,
            "n{id}: bad_frames {} before, {} after",
            b.bad_frames,
            a.bad_frames
        );
    }

    // The peer links still work: with the half-open connections still
    // open, kill the leader; the others elect one of themselves and serve.
    let leader = c.wait_leader(&[1, 2, 3], LIMIT);
    c.kill(leader);
    let rest: Vec<u32> = [1, 2, 3].into_iter().filter(|&i| i != leader).collect();
    let new_leader = c.wait_leader(&rest, LIMIT);
    println!("n{leader} killed, n{new_leader} elected");
    serves(&c, "re-elected");
    c.start(leader);
    drop(half_open);

    // Afterwards: alive, no panic, a leader, puts and linearizable gets
    // through every node.
    assert_healthy(&mut c);
    c.wait_leader(&[1, 2, 3], LIMIT);
    serves(&c, "after");
    for id in [1, 2, 3] {
        assert_eq!(c.get(&[id], "during"), "still-here", "via n{id}");
    }
    assert_healthy(&mut c);
}

/// Runs `kraftwerk-node status` against one address with a cluster id.
fn status_of(addr: &str, cluster: u64) -> Option<NodeStatus> {
    let out = Command::new(kraftwerk_node())
        .args(["status", "--client-addrs", &format!("4={addr}")])
        .args(["--cluster-id", &cluster.to_string()])
        .output()
        .expect("run kraftwerk-node status");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(parse_status)
}

#[test]
fn a_raft_node_of_another_cluster_cannot_join() {
    stranger_cannot_join("raft");
}

#[test]
fn a_kraft_node_of_another_cluster_cannot_join() {
    stranger_cannot_join("kraft");
}

fn stranger_cannot_join(protocol: &str) {
    let mut c = Cluster::new(protocol, 3);
    c.start_all();
    c.wait_leader(&[1, 2, 3], LIMIT);
    serves(&c, "before");
    let before = statuses(&c);

    // Node 4 believes it belongs with nodes 1-3, under another cluster id.
    let mut peers = c.peers.clone();
    peers.insert(4, format!("127.0.0.1:{}", free_port()));
    let client = format!("127.0.0.1:{}", free_port());
    let join = |m: &BTreeMap<u32, String>| {
        m.iter()
            .map(|(i, a)| format!("{i}={a}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let log = c.dir.path().join("n4.log");
    let mut stranger = Command::new(kraftwerk_node())
        .args(["serve", "--id", "4", "--protocol", protocol])
        .args(["--peers", &join(&peers)])
        .args(["--client-addr", &client])
        .arg("--data-dir")
        .arg(c.dir.path().join("n4"))
        .args(["--cluster-id", &OTHER.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start the stranger");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stranger = Kill(&mut stranger);

    // Its frames reach every member, which counts them as bad.
    wait_for(LIMIT, "the stranger's frames counted by every node", || {
        let st = statuses(&c);
        st.iter()
            .all(|(id, s)| s.bad_frames > before[id].bad_frames)
            .then_some(())
    });
    for i in 0..5 {
        serves(&c, &format!("while-{i}"));
        std::thread::sleep(Duration::from_millis(200));
    }

    let s = wait_for(LIMIT, "the stranger's status", || status_of(&client, OTHER));
    println!("the stranger: {s:?}");
    assert_ne!(s.role, "leader", "{s:?}");
    assert_eq!(s.log_end, 0, "the stranger got entries: {s:?}");
    assert_eq!(s.commit, 0, "{s:?}");
    if protocol == "raft" {
        // A Raft stranger campaigns in ever higher terms; had its votes
        // been heard, the members would have moved to its term.
        let members = |c: &Cluster| statuses(c).values().map(|s| s.term).max().unwrap();
        let high = wait_for(LIMIT, "the stranger to campaign past the members", || {
            let s = status_of(&client, OTHER)?;
            (s.term > members(&c) + 2).then_some(s.term)
        });
        assert!(
            members(&c) < high,
            "the members followed the stranger's term"
        );
    }
    c.wait_leader(&[1, 2, 3], LIMIT);
    serves(&c, "after");
    assert!(
        matches!(stranger.0.try_wait(), Ok(None)),
        "the stranger died"
    );
    drop(stranger);
    assert_healthy(&mut c);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("panicked"), "{text}");
}
