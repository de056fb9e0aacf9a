//! A local etcd cluster for the benchmark: members on 127.0.0.1 with
//! fresh data directories and etcd's default durability (every WAL write is
//! fsynced; `--unsafe-no-fsync` is never passed).

use super::grpc::GrpcConn;
use super::{spawn_guarded, KillOnDrop};
use crate::node::{free_port, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The command that installs etcd 3.4 on Debian.
pub const INSTALL_HINT: &str = "apt-get install -y etcd-server etcd-client";

/// `etcd` on `PATH`, or a one-line explanation of how to install it.
pub fn find_etcd() -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!("etcd is not installed (not on PATH); install it with `{INSTALL_HINT}`")
        })
}

/// The first line of `etcd --version` (`etcd Version: 3.4.23`).
pub fn version(bin: &Path) -> Result<String, String> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().next() {
        Some(line) if out.status.success() && line.starts_with("etcd Version:") => {
            Ok(line.trim().to_string())
        }
        _ => Err(format!(
            "{} --version did not print an etcd version",
            bin.display()
        )),
    }
}

/// A running etcd cluster; every member is killed (and its data removed)
/// on drop.
pub struct EtcdCluster {
    /// The client addresses (`127.0.0.1:PORT`), one per member.
    pub clients: Vec<String>,
    /// The members, in the order of `clients`.
    procs: Vec<KillOnDrop>,
    /// Data directories and logs (dropped after `procs`: fields drop in
    /// declaration order).
    dir: TempDir,
}

impl EtcdCluster {
    /// Starts `n` members of a new cluster with the binary `bin`.
    pub fn start(bin: &Path, n: usize) -> Result<EtcdCluster, String> {
        let dir = TempDir::new("bench-etcd");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{}=http://127.0.0.1:{peer}", i + 1))
            .collect();
        let token = format!("kraftwerk-bench-{}", std::process::id());
        let mut cluster = EtcdCluster {
            clients: ports
                .iter()
                .map(|(c, _)| format!("127.0.0.1:{c}"))
                .collect(),
            procs: Vec::new(),
            dir,
        };
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{}", i + 1);
            let log = std::fs::File::create(cluster.log_file(i))
                .map_err(|e| format!("cannot create an etcd log file: {e}"))?;
            let mut cmd = Command::new(bin);
            // Settings from the environment (ETCD_*) would change the run.
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("ETCD_") {
                    cmd.env_remove(k);
                }
            }
            cmd.arg("--name")
                .arg(&name)
                .arg("--data-dir")
                .arg(cluster.dir.path().join(&name))
                .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
                ))
                .arg(format!("--initial-cluster={}", initial.join(",")))
                .arg(format!("--initial-cluster-token={token}"))
                .args(["--initial-cluster-state=new", "--logger=zap"])
                .arg("--log-outputs=stderr")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let child = spawn_guarded(&mut cmd)
                .map_err(|e| format!("cannot start etcd ({}): {e}", bin.display()))?;
            cluster.procs.push(KillOnDrop(child));
        }
        Ok(cluster)
    }

    fn log_file(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("m{}.log", i + 1))
    }

    /// A member that has exited, with the last line of its log.
    fn exited(&mut self) -> Option<String> {
        for i in 0..self.procs.len() {
            if let Some(status) = self.procs[i].exited() {
                let log = std::fs::read_to_string(self.log_file(i)).unwrap_or_default();
                let last = log.lines().last().unwrap_or("no output").to_string();
                return Some(format!("etcd member m{} exited ({status}): {last}", i + 1));
            }
        }
        None
    }

    /// Waits until a member reports a leader that answers too; returns the
    /// leader's client address.
    pub async fn wait_leader(&mut self, limit: Duration) -> Result<String, String> {
        let start = Instant::now();
        let mut last_err = String::from("no member answered");
        while start.elapsed() < limit {
            if let Some(why) = self.exited() {
                return Err(why);
            }
            let mut members = Vec::new();
            let mut leader = 0;
            for addr in &self.clients {
                match status(addr).await {
                    Ok((member, l)) => {
                        members.push((member, addr.clone()));
                        leader = leader.max(l);
                    }
                    Err(e) => last_err = e,
                }
            }
            if let Some((_, addr)) = members.iter().find(|(m, _)| leader != 0 && *m == leader) {
                return Ok(addr.clone());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "etcd elected no leader within {limit:?}: {last_err}"
        ))
    }
}

async fn status(addr: &str) -> Result<(u64, u64), String> {
    GrpcConn::connect(addr).await?.status().await
}
