//! A cluster of real `kraftwerk-node` processes, one per network namespace
//! of a [`Net`]: started with `ip netns exec`, killed with SIGKILL, paused
//! with SIGSTOP and resumed with SIGCONT.

use super::net::Net;
use crate::node::{kraftwerk_node, TempDir};
use kraftwerk_impl::core::Status;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The peer and client ports every node listens on (each namespace has its
/// own address).
pub const PEER_PORT: u16 = 7000;
/// See [`PEER_PORT`].
pub const CLIENT_PORT: u16 = 8000;

/// Nodes in namespaces. Dropping it kills every node, then removes the
/// namespaces, then the data.
pub struct NsCluster {
    procs: BTreeMap<u32, Child>,
    paused: BTreeSet<u32>,
    /// `raft` or `kraft`.
    pub protocol: String,
    /// The network.
    pub net: Net,
    /// Data directories and node logs.
    pub dir: TempDir,
}

fn map_arg(net: &Net, n: u32, port: u16) -> String {
    (1..=n)
        .map(|i| format!("{i}={}:{port}", net.ip(i)))
        .collect::<Vec<_>>()
        .join(",")
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

impl NsCluster {
    /// `n` nodes of `protocol` on a fresh network (not started).
    pub fn new(protocol: &str, n: u32) -> Result<NsCluster, String> {
        Ok(NsCluster {
            procs: BTreeMap::new(),
            paused: BTreeSet::new(),
            protocol: protocol.into(),
            net: Net::new(n)?,
            dir: TempDir::new(&format!("nemesis-{protocol}")),
        })
    }

    /// The node ids.
    pub fn ids(&self) -> Vec<u32> {
        (1..=self.net.nodes.len() as u32).collect()
    }

    /// Every node's client address (from the root namespace).
    pub fn client_addrs(&self) -> Vec<String> {
        self.ids()
            .into_iter()
            .map(|i| format!("{}:{CLIENT_PORT}", self.net.ip(i)))
            .collect()
    }

    /// Node `id`'s stderr (appended to across restarts).
    pub fn log_file(&self, id: u32) -> PathBuf {
        self.dir.path().join(format!("n{id}.log"))
    }

    /// Starts (or restarts, on the same data directory) node `id`.
    pub fn start(&mut self, id: u32) -> Result<(), String> {
        let n = self.net.nodes.len() as u32;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file(id))
            .map_err(|e| format!("node log: {e}"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.net.nodes[id as usize - 1].ns])
            .arg(kraftwerk_node())
            .args(["serve", "--id", &id.to_string()])
            .args(["--peers", &map_arg(&self.net, n, PEER_PORT)])
            .args(["--client-addrs", &map_arg(&self.net, n, CLIENT_PORT)])
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("n{id}")))
            .args(["--protocol", &self.protocol])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start node {id}: {e}"))?;
        self.procs.insert(id, child);
        self.paused.remove(&id);
        Ok(())
    }

    /// Starts every node.
    pub fn start_all(&mut self) -> Result<(), String> {
        for id in self.ids() {
            self.start(id)?;
        }
        Ok(())
    }

    /// kill -9 node `id` and reap it.
    pub fn kill(&mut self, id: u32) {
        if let Some(mut c) = self.procs.remove(&id) {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused.remove(&id);
    }

    /// SIGSTOP node `id`.
    pub fn pause(&mut self, id: u32) {
        if let Some(c) = self.procs.get(&id) {
            signal(c, libc::SIGSTOP);
            self.paused.insert(id);
        }
    }

    /// SIGCONT node `id`.
    pub fn resume(&mut self, id: u32) {
        if let Some(c) = self.procs.get(&id) {
            signal(c, libc::SIGCONT);
        }
        self.paused.remove(&id);
    }

    /// Nodes whose process exited by itself (a crash): id and exit status.
    pub fn exited(&mut self) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        for (id, c) in &mut self.procs {
            if let Ok(Some(st)) = c.try_wait() {
                out.push((*id, st.to_string()));
            }
        }
        out
    }

    /// Removes every network fault, resumes every paused node and
    /// restarts every node that is down.
    pub fn heal(&mut self) -> Result<(), String> {
        self.net.heal()?;
        for id in self.paused.clone() {
            self.resume(id);
        }
        for id in self.ids() {
            if !self.procs.contains_key(&id) {
                self.start(id)?;
            }
        }
        Ok(())
    }

    /// Each node's status, `None` when it does not answer within `limit`.
    pub async fn statuses(&self, limit: Duration) -> BTreeMap<u32, Option<Status>> {
        let mut tasks = Vec::new();
        for (id, addr) in self.ids().into_iter().zip(self.client_addrs()) {
            tasks.push((
                id,
                tokio::spawn(async move {
                    tokio::time::timeout(limit, kraftwerk_impl::client::status(&addr, 0))
                        .await
                        .ok()
                        .and_then(Result::ok)
                }),
            ));
        }
        let mut out = BTreeMap::new();
        for (id, t) in tasks {
            out.insert(id, t.await.ok().flatten());
        }
        out
    }

    /// The last lines of node `id`'s log (for failure messages).
    pub fn log_tail(&self, id: u32, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_file(id)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for NsCluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.procs) {
            signal(&c, libc::SIGCONT);
            let _ = c.kill();
            let _ = c.wait();
        }
        // Then `net` drops (namespaces, bridge), then `dir`.
    }
}

/// The leader with the highest term among `statuses`, if any.
pub fn leader_of(statuses: &BTreeMap<u32, Option<Status>>) -> Option<u32> {
    statuses
        .values()
        .flatten()
        .filter(|s| s.role == "leader")
        .max_by_key(|s| s.term)
        .map(|s| s.id)
}
