//! `kraftwerk-node cluster start|stop|status`: a local three-node cluster
//! on 127.0.0.1 (part of the binary, not of the library).
//!
//! Each node `nN` has a data directory `DIR/nN`, a log `DIR/nN.log` and a
//! pid file `DIR/nN.pid`. A pid file is trusted only when its process is
//! a `kraftwerk-node serve` whose `--data-dir` is that node's directory
//! (read from `/proc`), and a node whose pid file is missing is looked
//! for in `/proc` as well: so `start` never starts a second process on a
//! live node's data, and `stop` stops every process of the cluster,
//! never an unrelated one that reuses a recorded pid.

use crate::{failed, usage, Failure};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The nodes of a local cluster.
pub const NODES: [u32; 3] = [1, 2, 3];

/// How long a freshly started node has to fail (a port in use, a bad
/// data directory) before `start` calls it started.
const START_CHECK: Duration = Duration::from_millis(500);
/// How long `stop` waits for a node to end after SIGTERM, then SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Where a local cluster lives and listens.
pub struct Layout {
    /// Data, logs and pid files (absolute).
    pub dir: PathBuf,
    /// Node N's peer port is `peer_port + N - 1`.
    pub peer_port: u16,
    /// Node N's client port is `client_port + N - 1`.
    pub client_port: u16,
}

impl Layout {
    /// The layout of the cluster in `dir` (made absolute).
    pub fn new(dir: &Path, peer_port: u16, client_port: u16) -> Result<Layout, Failure> {
        for (flag, port) in [("--peer-port", peer_port), ("--client-port", client_port)] {
            if port == 0 || port > u16::MAX - 2 {
                return Err(usage(format!(
                    "{flag} must be between 1 and {}",
                    u16::MAX - 2
                )));
            }
        }
        if peer_port.abs_diff(client_port) < 3 {
            return Err(usage(
                "--peer-port and --client-port ranges overlap (each needs 3 ports)",
            ));
        }
        let dir = match dir.canonicalize() {
            Ok(d) => d,
            Err(_) => std::env::current_dir()
                .map_err(|e| usage(format!("cannot use {}: {e}", dir.display())))?
                .join(dir),
        };
        Ok(Layout {
            dir,
            peer_port,
            client_port,
        })
    }

    fn addrs(base: u16) -> String {
        NODES
            .iter()
            .map(|&n| format!("{n}=127.0.0.1:{}", base + n as u16 - 1))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `--peers` of every node.
    pub fn peers(&self) -> String {
        Layout::addrs(self.peer_port)
    }

    /// `--client-addrs` of every node and of the client commands.
    pub fn clients(&self) -> String {
        Layout::addrs(self.client_port)
    }

    fn data_dir(&self, id: u32) -> PathBuf {
        self.dir.join(format!("n{id}"))
    }

    fn pid_file(&self, id: u32) -> PathBuf {
        self.dir.join(format!("n{id}.pid"))
    }

    fn log_file(&self, id: u32) -> PathBuf {
        self.dir.join(format!("n{id}.log"))
    }

    fn recorded_pid(&self, id: u32) -> Option<u32> {
        std::fs::read_to_string(self.pid_file(id))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Every live process serving node `id`'s data directory: the pid
    /// file's, if it is one, and any other found in `/proc`.
    pub fn processes(&self, id: u32) -> Vec<u32> {
        let data = self.data_dir(id);
        let mut pids: Vec<u32> = self
            .recorded_pid(id)
            .filter(|&pid| serves(pid, &data))
            .into_iter()
            .collect();
        for pid in node_processes() {
            if !pids.contains(&pid) && serves(pid, &data) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Removes node `id`'s pid file unless it names a live process of
    /// the node.
    fn remove_stale_pid_file(&self, id: u32) -> Option<u32> {
        let pid = self.recorded_pid(id)?;
        if serves(pid, &self.data_dir(id)) {
            return None;
        }
        let _ = std::fs::remove_file(self.pid_file(id));
        Some(pid)
    }
}

/// Whether `/proc` can tell which process a pid is (Linux).
fn have_proc() -> bool {
    Path::new("/proc/self/cmdline").exists()
}

/// Pids of the processes named `kraftwerk-node` (from `/proc`).
fn node_processes() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "kraftwerk-node")
        })
        .collect()
}

/// True when `pid` is a live `kraftwerk-node serve` whose `--data-dir`
/// is `data` (resolved against the process's working directory). Without
/// `/proc`, any live process with that pid.
fn serves(pid: u32, data: &Path) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    if !have_proc() {
        // SAFETY: signal 0 only checks that the process exists.
        return unsafe { libc::kill(pid as i32, 0) } == 0;
    }
    // A zombie has an empty command line: it no longer runs.
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let is_node = args.first().is_some_and(|a| {
        Path::new(a)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("kraftwerk-node"))
    });
    if !is_node || !args.iter().any(|a| a == "serve") {
        return false;
    }
    let value = args.iter().enumerate().find_map(|(i, a)| {
        if a == "--data-dir" {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix("--data-dir=").map(str::to_string)
        }
    });
    let Some(value) = value else { return false };
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    let theirs = cwd.join(value);
    match (theirs.canonicalize(), data.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => theirs == data,
    }
}

fn pids_text(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `cluster start [--node N]`: starts every node, or node N; refuses
/// while a node it would start, or (without `--node`) any node of the
/// cluster, is running.
pub fn start(layout: &Layout, node: Option<u32>, protocol: &str) -> Result<(), Failure> {
    let ids: Vec<u32> = match node {
        Some(n) if NODES.contains(&n) => vec![n],
        Some(n) => return Err(usage(format!("--node must be one of 1, 2, 3, got {n}"))),
        None => NODES.to_vec(),
    };
    let running: Vec<(u32, Vec<u32>)> = NODES
        .iter()
        .map(|&id| (id, layout.processes(id)))
        .filter(|(_, pids)| !pids.is_empty())
        .collect();
    if let Some(n) = node {
        if let Some((_, pids)) = running.iter().find(|(id, _)| *id == n) {
            return Err(usage(format!(
                "n{n} is already running (pid {})",
                pids_text(pids)
            )));
        }
    } else if !running.is_empty() {
        let live: Vec<String> = running
            .iter()
            .map(|(id, pids)| format!("n{id} (pid {})", pids_text(pids)))
            .collect();
        let missing: Vec<String> = NODES
            .iter()
            .filter(|id| !running.iter().any(|(r, _)| r == *id))
            .map(|id| id.to_string())
            .collect();
        let hint = match missing.as_slice() {
            [] => "run `kraftwerk-node cluster stop` first".to_string(),
            [m] => format!("`cluster start --node {m}` starts the missing node, `cluster stop` stops the others"),
            ms => format!(
                "`cluster start --node N` (N = {}) starts a missing node, `cluster stop` stops the others",
                ms.join(", ")
            ),
        };
        let verb = if live.len() == 1 { "is" } else { "are" };
        return Err(usage(format!(
            "{} of the cluster in {} {verb} still running: {hint}",
            live.join(", "),
            layout.dir.display(),
        )));
    }
    std::fs::create_dir_all(&layout.dir)
        .map_err(|e| usage(format!("cannot create {}: {e}", layout.dir.display())))?;
    let exe = std::env::current_exe().map_err(|e| failed(e.to_string()))?;
    let mut children: Vec<(u32, Child)> = Vec::new();
    let mut result = Ok(());
    for &id in &ids {
        match spawn(layout, &exe, id, protocol) {
            Ok(child) => children.push((id, child)),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // A node that cannot start (port in use, bad data dir) exits at once:
    // say so instead of leaving a broken cluster behind.
    if result.is_ok() {
        std::thread::sleep(START_CHECK);
        let mut failures = Vec::new();
        for (id, child) in &mut children {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(layout.log_file(*id)).unwrap_or_default();
                let why = log.lines().last().unwrap_or("no output").to_string();
                failures.push(format!("n{id} exited ({status}): {why}"));
            }
        }
        if !failures.is_empty() {
            result = Err(usage(failures.join("; ")));
        }
    }
    if result.is_err() {
        // Undo this start only: the processes it started, and their pid
        // files (each names a process that is now gone).
        for (id, mut child) in children {
            let _ = child.kill();
            let _ = child.wait();
            if layout.recorded_pid(id) == Some(child.id()) {
                let _ = std::fs::remove_file(layout.pid_file(id));
            }
        }
        return result;
    }
    for (id, child) in &children {
        println!(
            "started n{id} (pid {}), log in {}",
            child.id(),
            layout.log_file(*id).display()
        );
    }
    Ok(())
}

fn spawn(layout: &Layout, exe: &Path, id: u32, protocol: &str) -> Result<Child, Failure> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.log_file(id))
        .map_err(|e| {
            failed(format!(
                "cannot open {}: {e}",
                layout.log_file(id).display()
            ))
        })?;
    let child = Command::new(exe)
        .args([
            "serve",
            "--id",
            &id.to_string(),
            "--peers",
            &layout.peers(),
            "--client-addrs",
            &layout.clients(),
            "--protocol",
            protocol,
        ])
        .arg("--data-dir")
        .arg(layout.data_dir(id))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| failed(e.to_string()))?)
        .stderr(log)
        .spawn()
        .map_err(|e| failed(format!("cannot start node {id}: {e}")))?;
    let pid_file = layout.pid_file(id);
    if let Err(e) = std::fs::write(&pid_file, format!("{}\n", child.id())) {
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        return Err(failed(format!("cannot write {}: {e}", pid_file.display())));
    }
    Ok(child)
}

/// `cluster stop`: stops every process of every node, and says for each
/// node what it did.
pub fn stop(layout: &Layout) -> Result<(), Failure> {
    let mut stuck = Vec::new();
    for id in NODES {
        let pids = layout.processes(id);
        if pids.is_empty() {
            match layout.remove_stale_pid_file(id) {
                Some(pid) => {
                    println!("n{id} was not running (removed its stale pid file naming pid {pid})")
                }
                None => println!("n{id} was not running"),
            }
            continue;
        }
        let data = layout.data_dir(id);
        for &pid in &pids {
            if end(pid, &data) {
                println!("stopped n{id} (pid {pid})");
            } else {
                stuck.push(format!("n{id} (pid {pid})"));
            }
        }
        if layout.processes(id).is_empty() {
            let _ = std::fs::remove_file(layout.pid_file(id));
        }
    }
    if stuck.is_empty() {
        Ok(())
    } else {
        Err(failed(format!("could not stop {}", stuck.join(", "))))
    }
}

/// SIGTERM, then SIGKILL after [`STOP_WAIT`]; true once the process no
/// longer serves `data`.
fn end(pid: u32, data: &Path) -> bool {
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        // SAFETY: sending a signal to a process identified above as a
        // node of this cluster.
        unsafe {
            libc::kill(pid as i32, signal);
        }
        let until = Instant::now() + STOP_WAIT;
        while Instant::now() < until {
            if !serves(pid, data) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    !serves(pid, data)
}
