//! Helpers for the real-cluster tests: the `kraftwerk-node` binary, free
//! ports, temporary directories, and a cluster of real processes that are
//! all killed when it is dropped (even when a test panics).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `kraftwerk-node` binary of this build, rebuilt once per test process
/// (as [`crate::kraftwerk`] does for the model's binary).
pub fn kraftwerk_node() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| crate::build_binary("kraftwerk-impl", "kraftwerk-node"))
        .clone()
}

/// A port that was free a moment ago on 127.0.0.1, below Linux's
/// ephemeral range (32768–60999). A port from `bind(0)` lies in that range,
/// where any outgoing connection (a client's, etcd's) may take it as its
/// local port before the node binds it: CI saw "Address already in use".
/// Each call in a process takes the next port of a walk that starts at a
/// place given by the process id, skipping ports in use.
pub fn free_port() -> u16 {
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = std::process::id().wrapping_mul(97) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) as u32;
        let port = (LOW + (start + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory under the system's temp dir.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "kraftwerk-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `limit`
/// naming `what`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(x) = f() {
            return x;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One node's line of `kraftwerk-node status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// Its id.
    pub id: u32,
    /// Its role.
    pub role: String,
    /// Term (epoch).
    pub term: u64,
    /// Commit index (high watermark).
    pub commit: u64,
    /// Last log index.
    pub log_end: u64,
    /// Bad frames the node dropped.
    pub bad_frames: u64,
}

/// A cluster of real `kraftwerk-node` processes on 127.0.0.1.
pub struct Cluster {
    /// Data directories and node logs live here.
    pub dir: TempDir,
    /// `raft` or `kraft`.
    pub protocol: String,
    /// Peer addresses by id.
    pub peers: BTreeMap<u32, String>,
    /// Client addresses by id.
    pub clients: BTreeMap<u32, String>,
    /// The running processes by id.
    pub procs: BTreeMap<u32, Child>,
    /// Servers that start as non-voters (`--observers`).
    pub observers: Vec<u32>,
    /// Extra `serve` arguments per node (e.g. TLS files).
    pub serve_extra: BTreeMap<u32, Vec<String>>,
    /// Extra arguments of every [`Cluster::cli`] call (e.g. TLS files).
    pub cli_extra: Vec<String>,
}

fn map_arg(m: &BTreeMap<u32, String>) -> String {
    m.iter()
        .map(|(i, a)| format!("{i}={a}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Cluster {
    /// A cluster of `n` nodes (not started) running `protocol`.
    pub fn new(protocol: &str, n: u32) -> Cluster {
        let mut peers = BTreeMap::new();
        let mut clients = BTreeMap::new();
        for id in 1..=n {
            peers.insert(id, format!("127.0.0.1:{}", free_port()));
            clients.insert(id, format!("127.0.0.1:{}", free_port()));
        }
        Cluster {
            dir: TempDir::new(&format!("node-{protocol}")),
            protocol: protocol.into(),
            peers,
            clients,
            procs: BTreeMap::new(),
            observers: Vec::new(),
            serve_extra: BTreeMap::new(),
            cli_extra: Vec::new(),
        }
    }

    /// Node `id`'s data directory.
    pub fn data_dir(&self, id: u32) -> PathBuf {
        self.dir.path().join(format!("n{id}"))
    }

    /// Node `id`'s stderr file (appended to across restarts).
    pub fn log_file(&self, id: u32) -> PathBuf {
        self.dir.path().join(format!("n{id}.log"))
    }

    /// The arguments that start node `id`.
    pub fn serve_args(&self, id: u32) -> Vec<String> {
        vec![
            "serve".into(),
            "--id".into(),
            id.to_string(),
            "--peers".into(),
            map_arg(&self.peers),
            "--client-addrs".into(),
            map_arg(&self.clients),
            "--data-dir".into(),
            self.data_dir(id).display().to_string(),
            "--protocol".into(),
            self.protocol.clone(),
        ]
        .into_iter()
        .chain((!self.observers.is_empty()).then(|| {
            let ids: Vec<String> = self.observers.iter().map(|i| i.to_string()).collect();
            format!("--observers={}", ids.join(","))
        }))
        .chain(self.serve_extra.get(&id).into_iter().flatten().cloned())
        .collect()
    }

    /// Starts (or restarts) node `id`.
    pub fn start(&mut self, id: u32) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file(id))
            .expect("node log file");
        let child = Command::new(kraftwerk_node())
            .args(self.serve_args(id))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kraftwerk-node");
        self.procs.insert(id, child);
    }

    /// Starts every node.
    pub fn start_all(&mut self) {
        let ids: Vec<u32> = self.peers.keys().copied().collect();
        for id in ids {
            self.start(id);
        }
    }

    /// Kills node `id` with SIGKILL and reaps it.
    pub fn kill(&mut self, id: u32) {
        if let Some(mut c) = self.procs.remove(&id) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// True when node `id`'s process is still running.
    pub fn alive(&mut self, id: u32) -> bool {
        self.procs
            .get_mut(&id)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Runs the client CLI against the nodes `via` (all when empty).
    pub fn cli(&self, via: &[u32], args: &[&str]) -> Output {
        let addrs: BTreeMap<u32, String> = self
            .clients
            .iter()
            .filter(|(i, _)| via.is_empty() || via.contains(i))
            .map(|(i, a)| (*i, a.clone()))
            .collect();
        Command::new(kraftwerk_node())
            .args(args)
            .args(["--client-addrs", &map_arg(&addrs)])
            .args(&self.cli_extra)
            .output()
            .expect("run kraftwerk-node")
    }

    /// `put key value` through the nodes `via`; panics unless acknowledged.
    pub fn put(&self, via: &[u32], key: &str, value: &str) {
        let out = self.cli(via, &["put", key, value]);
        assert!(
            out.status.success(),
            "put {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `get key` through the nodes `via`: the value, `(nil)` when absent.
    pub fn get(&self, via: &[u32], key: &str) -> String {
        let out = self.cli(via, &["get", key]);
        assert!(
            out.status.success(),
            "get {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Each node's status (`None` when unreachable).
    pub fn status(&self) -> BTreeMap<u32, Option<NodeStatus>> {
        let out = self.cli(&[], &["status"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut map: BTreeMap<u32, Option<NodeStatus>> =
            self.clients.keys().map(|&i| (i, None)).collect();
        for line in text.lines() {
            if let Some(s) = parse_status(line) {
                map.insert(s.id, Some(s));
            }
        }
        map
    }

    /// Waits until one node of `among` leads and a majority of the cluster
    /// reports the same term; returns the leader's id.
    pub fn wait_leader(&self, among: &[u32], limit: Duration) -> u32 {
        wait_for(limit, "a leader", || {
            let st = self.status();
            let leaders: Vec<&NodeStatus> = st
                .values()
                .flatten()
                .filter(|s| s.role == "leader" && among.contains(&s.id))
                .collect();
            let [l] = leaders.as_slice() else { return None };
            let same_term = st.values().flatten().filter(|s| s.term == l.term).count();
            (same_term * 2 > self.peers.len()).then_some(l.id)
        })
    }
}

/// Parses `n1 role=leader term=3 commit=10 log_end=10 leader=1 bad_frames=0`.
pub fn parse_status(line: &str) -> Option<NodeStatus> {
    let mut parts = line.split_whitespace();
    let id = parts.next()?.strip_prefix('n')?.parse().ok()?;
    let mut kv = BTreeMap::new();
    for p in parts {
        let (k, v) = p.split_once('=')?;
        kv.insert(k, v);
    }
    Some(NodeStatus {
        id,
        role: kv.get("role")?.to_string(),
        term: kv.get("term")?.parse().ok()?,
        commit: kv.get("commit")?.parse().ok()?,
        log_end: kv.get("log_end")?.parse().ok()?,
        bad_frames: kv.get("bad_frames")?.parse().ok()?,
    })
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.procs) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
