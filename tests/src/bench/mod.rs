//! `kraftwerk-bench`: kraftwerk-node (Raft and KRaft) and etcd 3.4 measured
//! side by side, in one run, on one machine, by one load generator.
//!
//! Each system runs as three processes on 127.0.0.1 with its data in a
//! fresh directory under `$TMPDIR` (so on the same file system) and
//! fsyncs as it does by default. The load is the same for both: `N`
//! closed-loop clients (each sends one 256-byte put, waits for the answer,
//! sends the next), each on its own connection, keys `bench-N-C-I`. After
//! one untimed warm-up put per client (which also finds the leader) the
//! clock starts; puts/s is requests over the time until the last answer,
//! and the percentiles are those of the per-request latencies, computed as
//! `kraftwerk-node bench` computes them.
//!
//! - kraftwerk: [`kraftwerk_impl::client::Client`], which follows leader
//!   hints, so every client ends up talking to the leader;
//! - etcd: unary gRPC `etcdserverpb.KV/Put` over HTTP/2 ([`grpc`]), one
//!   connection per client, all to the leader (found with
//!   `Maintenance/Status`), so that neither system pays a follower's
//!   forwarding hop.

pub mod etcd;
pub mod grpc;

use crate::node::Cluster;
use kraftwerk_impl::client::Client;
use kraftwerk_impl::kv::{Command as KvCommand, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The systems measured, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum System {
    /// kraftwerk-node `--protocol raft`.
    Raft,
    /// kraftwerk-node `--protocol kraft`.
    Kraft,
    /// etcd 3.4.
    Etcd,
}

impl System {
    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            System::Raft => "raft",
            System::Kraft => "kraft",
            System::Etcd => "etcd",
        }
    }
}

/// Spawns `cmd` so that the child is killed (SIGKILL) if this process dies
/// first, even without running destructors (Linux `PR_SET_PDEATHSIG`).
/// Spawn from the main thread: the signal follows the spawning thread.
pub fn spawn_guarded(cmd: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe calls (prctl, getppid).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died before prctl: do not outlive it.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// A child process killed and reaped on drop.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Its exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A three-node kraftwerk cluster of real `kraftwerk-node` processes
/// (killed on drop, through [`Cluster`]'s own drop).
pub struct KraftwerkCluster(Cluster);

impl KraftwerkCluster {
    /// Starts `n` nodes of `node_bin` running `protocol` (`raft`/`kraft`).
    pub fn start(node_bin: &Path, protocol: &str, n: u32) -> Result<KraftwerkCluster, String> {
        let mut c = KraftwerkCluster(Cluster::new(protocol, n));
        for id in 1..=n {
            let log = std::fs::File::create(c.0.log_file(id))
                .map_err(|e| format!("cannot create a node log file: {e}"))?;
            let mut cmd = Command::new(node_bin);
            cmd.args(c.0.serve_args(id))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let child = spawn_guarded(&mut cmd)
                .map_err(|e| format!("cannot start {}: {e}", node_bin.display()))?;
            c.0.procs.insert(id, child);
        }
        Ok(c)
    }

    /// The nodes' client addresses.
    pub fn addrs(&self) -> Vec<String> {
        self.0.clients.values().cloned().collect()
    }

    /// A node that has exited, with the last line of its log.
    fn exited(&mut self) -> Option<String> {
        let ids: Vec<u32> = self.0.procs.keys().copied().collect();
        for id in ids {
            if !self.0.alive(id) {
                let log = std::fs::read_to_string(self.0.log_file(id)).unwrap_or_default();
                let last = log.lines().last().unwrap_or("no output").to_string();
                return Some(format!("kraftwerk-node n{id} exited: {last}"));
            }
        }
        None
    }

    /// Waits until the cluster acknowledges a put.
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let mut client = Client::new(self.addrs(), 0);
        client.deadline = limit;
        let put = KvCommand::Put {
            key: b"bench-ready".to_vec(),
            value: b"1".to_vec(),
        };
        let r = client.run(put).await;
        if let Some(why) = self.exited() {
            return Err(why);
        }
        match r {
            Ok(Outcome::Done(_)) => Ok(()),
            Ok(other) => Err(format!("unexpected answer to a put: {other:?}")),
            Err(e) => Err(format!("the {} cluster is not ready: {e}", self.0.protocol)),
        }
    }
}

/// One closed-loop client of either system.
pub enum BenchClient {
    /// A kraftwerk client (follows leader hints, retries with its id).
    Kraftwerk(Box<Client>),
    /// One HTTP/2 connection to an etcd member.
    Etcd(grpc::GrpcConn),
}

impl BenchClient {
    /// One put, answered (acknowledged) or an error.
    pub async fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        match self {
            BenchClient::Kraftwerk(c) => match c.run(KvCommand::Put { key, value }).await? {
                Outcome::Done(_) => Ok(()),
                other => Err(format!("unexpected answer to a put: {other:?}")),
            },
            BenchClient::Etcd(g) => g.put(&key, &value).await.map(|_revision| ()),
        }
    }
}

/// The figures of one (system, client count) point.
#[derive(Clone, Debug)]
pub struct Point {
    /// Puts acknowledged while the clock ran.
    pub requests: usize,
    /// Puts per second.
    pub puts_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// Runs `requests` puts of `value_size` bytes through `clients` (each
/// one at a time) after one untimed warm-up put each.
pub async fn closed_loop(
    clients: Vec<BenchClient>,
    requests: usize,
    value_size: usize,
) -> Result<Point, String> {
    let n = clients.len();
    assert!(n > 0 && requests >= n, "at least one request per client");
    let value = vec![b'x'; value_size];

    // Warm-up: connects, finds the leader, fills the first buffers.
    let mut warm = tokio::task::JoinSet::new();
    for (c, mut client) in clients.into_iter().enumerate() {
        let value = value.clone();
        warm.spawn(async move {
            let key = format!("bench-warm-{n}-{c}").into_bytes();
            client.put(key, value).await.map(|()| (c, client))
        });
    }
    let mut ready = Vec::with_capacity(n);
    while let Some(r) = warm.join_next().await {
        ready.push(r.map_err(|e| e.to_string())??);
    }

    let start = Instant::now();
    let mut timed = tokio::task::JoinSet::new();
    for (c, mut client) in ready {
        let count = requests / n + usize::from(c < requests % n);
        let value = value.clone();
        timed.spawn(async move {
            let mut lat = Vec::with_capacity(count);
            for i in 0..count {
                let key = format!("bench-{n}-{c}-{i}").into_bytes();
                let t = Instant::now();
                client.put(key, value.clone()).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, String>(lat)
        });
    }
    let mut lat = Vec::with_capacity(requests);
    while let Some(r) = timed.join_next().await {
        lat.extend(r.map_err(|e| e.to_string())??);
    }
    let elapsed = start.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Ok(Point {
        requests: lat.len(),
        puts_per_s: lat.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50).as_secs_f64() * 1e3,
        p99_ms: pct(0.99).as_secs_f64() * 1e3,
    })
}

/// The point of median puts/s among `rounds` (the upper one of an even
/// count).
pub fn median(mut rounds: Vec<Point>) -> Point {
    assert!(!rounds.is_empty(), "at least one round");
    rounds.sort_by(|a, b| a.puts_per_s.total_cmp(&b.puts_per_s));
    rounds.swap_remove(rounds.len() / 2)
}

/// The results table: a Markdown table with one row per client count,
/// puts/s and p50/p99 per system, then each kraftwerk protocol's puts/s
/// over etcd's.
pub fn table(
    systems: &[System],
    clients: &[usize],
    points: &BTreeMap<(System, usize), Point>,
) -> String {
    let mut head = vec!["clients".to_string()];
    for s in systems {
        let n = s.name();
        head.extend([
            format!("{n} puts/s"),
            format!("{n} p50 ms"),
            format!("{n} p99 ms"),
        ]);
    }
    let ratios: Vec<System> = if systems.contains(&System::Etcd) {
        systems
            .iter()
            .copied()
            .filter(|&s| s != System::Etcd)
            .collect()
    } else {
        Vec::new()
    };
    head.extend(ratios.iter().map(|s| format!("{}/etcd", s.name())));

    let mut rows = vec![head];
    for &c in clients {
        let mut row = vec![c.to_string()];
        for &s in systems {
            match points.get(&(s, c)) {
                Some(p) => row.extend([
                    format!("{:.0}", p.puts_per_s),
                    format!("{:.2}", p.p50_ms),
                    format!("{:.2}", p.p99_ms),
                ]),
                None => row.extend(["-".to_string(), "-".into(), "-".into()]),
            }
        }
        for &s in &ratios {
            row.push(
                match (points.get(&(s, c)), points.get(&(System::Etcd, c))) {
                    (Some(k), Some(e)) => format!("{:.2}", k.puts_per_s / e.puts_per_s),
                    _ => "-".into(),
                },
            );
        }
        rows.push(row);
    }

    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (k, row) in rows.iter().enumerate() {
        out.push('|');
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(out, " {cell:>w$} |");
        }
        out.push('\n');
        if k == 0 {
            out.push('|');
            for w in &widths {
                let _ = write!(out, "{}:|", "-".repeat(w + 1));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_middle_round_by_throughput() {
        let p = |r: f64, p50_ms: f64| Point {
            requests: 10,
            puts_per_s: r,
            p50_ms,
            p99_ms: 9.0,
        };
        let m = median(vec![p(300.0, 3.0), p(100.0, 1.0), p(200.0, 2.0)]);
        assert_eq!((m.puts_per_s, m.p50_ms), (200.0, 2.0));
        assert_eq!(median(vec![p(5.0, 1.0)]).puts_per_s, 5.0);
        assert_eq!(median(vec![p(5.0, 1.0), p(7.0, 1.0)]).puts_per_s, 7.0);
    }

    #[test]
    fn table_has_a_row_per_client_count_and_ratios() {
        let p = |r: f64| Point {
            requests: 10,
            puts_per_s: r,
            p50_ms: 1.0,
            p99_ms: 2.5,
        };
        let mut points = BTreeMap::new();
        points.insert((System::Raft, 1), p(900.0));
        points.insert((System::Etcd, 1), p(600.0));
        points.insert((System::Raft, 16), p(4000.0));
        let t = table(&[System::Raft, System::Etcd], &[1, 16], &points);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].contains("raft puts/s") && lines[0].contains("raft/etcd"));
        assert!(!lines[0].contains("kraft"), "{t}");
        let cells = |l: &str| -> Vec<String> {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        };
        assert_eq!(
            cells(lines[2]),
            ["1", "900", "1.00", "2.50", "600", "1.00", "2.50", "1.50"]
        );
        assert_eq!(cells(lines[3])[4], "-");
        assert_eq!(cells(lines[3])[7], "-");
    }
}
