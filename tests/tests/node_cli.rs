//! `kraftwerk-node` as a newcomer meets it: `cluster start` after a node
//! died, `cluster stop` leaving no process behind (real processes), a
//! client command with no cluster running, and a reader that goes away.

use kraftwerk_tests::node::{free_port, kraftwerk_node, wait_for, TempDir};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

fn assert_one_line_exit_2(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("kraftwerk-node: error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A port P such that P, P+1 and P+2 were free a moment ago.
fn three_free_ports() -> u16 {
    loop {
        let p = free_port();
        let free = |q: u16| TcpListener::bind(("127.0.0.1", q)).is_ok();
        if p < u16::MAX - 2 && free(p + 1) && free(p + 2) {
            return p;
        }
    }
}

/// True when `pid` is a live (not zombie) `kraftwerk-node serve`.
fn is_node(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text = String::from_utf8_lossy(&cmdline);
    text.contains("kraftwerk-node") && text.contains("serve")
}

/// Pids of live `kraftwerk-node serve` processes whose command line
/// names a data directory inside `dir`.
fn nodes_in(dir: &Path) -> Vec<u32> {
    let dir = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.iter().any(|a| a == "serve") && args.iter().any(|a| a.starts_with(&dir))
        })
        .collect()
}

/// A local cluster in a temp dir on free ports; every node process found
/// in it is killed on drop, even when the test fails.
struct Local {
    dir: TempDir,
    peer: u16,
    client: u16,
}

impl Local {
    fn new() -> Local {
        let peer = three_free_ports();
        let mut client = three_free_ports();
        while client.abs_diff(peer) < 3 {
            client = three_free_ports();
        }
        Local {
            dir: TempDir::new("local-cluster"),
            peer,
            client,
        }
    }

    fn cluster(&self, args: &[&str]) -> Output {
        Command::new(kraftwerk_node())
            .arg("cluster")
            .args(args)
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--peer-port", &self.peer.to_string()])
            .args(["--client-port", &self.client.to_string()])
            .output()
            .expect("run kraftwerk-node cluster")
    }

    fn client_addrs(&self) -> String {
        (0..3)
            .map(|i| format!("{}=127.0.0.1:{}", i + 1, self.client + i))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn pid(&self, id: u32) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join(format!("n{id}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        for pid in nodes_in(self.dir.path()) {
            // SAFETY: killing a node process this test started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cluster_start_after_a_node_died_and_stop_leave_no_process_behind() {
    let c = Local::new();
    let out = c.cluster(&["start"]);
    assert!(out.status.success(), "{out:?}");
    let pids: Vec<u32> = (1..=3).map(|id| c.pid(id).expect("pid file")).collect();
    for (id, pid) in (1..=3).zip(&pids) {
        assert!(is_node(*pid), "n{id} runs");
        assert!(
            stdout(&out).contains(&format!("started n{id} (pid {pid})")),
            "{}",
            stdout(&out)
        );
    }
    let put = Command::new(kraftwerk_node())
        .args(["put", "k", "v", "--client-addrs", &c.client_addrs()])
        .output()
        .unwrap();
    assert!(put.status.success(), "{put:?}");

    // n2 dies.
    // SAFETY: killing a node process this test started.
    unsafe {
        libc::kill(pids[1] as i32, libc::SIGKILL);
    }
    wait_for(LIMIT, "n2 to die", || (!is_node(pids[1])).then_some(()));

    // Starting the whole cluster again is refused in one line naming the
    // live nodes and how to start the missing one; nothing is touched.
    let out = c.cluster(&["start"]);
    assert_one_line_exit_2(&out, "--node 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("n1 (pid {})", pids[0])), "{err}");
    assert!(err.contains(&format!("n3 (pid {})", pids[2])), "{err}");
    assert!(
        stdout(&out).is_empty(),
        "nothing 'started': {}",
        stdout(&out)
    );
    assert_eq!(c.pid(1), Some(pids[0]), "n1's pid file kept");
    assert_eq!(c.pid(3), Some(pids[2]), "n3's pid file kept");
    assert!(is_node(pids[0]) && is_node(pids[2]), "n1 and n3 still run");

    // A live node cannot be started twice.
    let out = c.cluster(&["start", "--node", "1"]);
    assert_one_line_exit_2(&out, "n1 is already running");

    // --node 2 restarts the dead one, and the cluster serves with it.
    let out = c.cluster(&["start", "--node", "2"]);
    assert!(out.status.success(), "{out:?}");
    let n2 = c.pid(2).expect("n2's new pid file");
    assert_ne!(n2, pids[1]);
    assert!(is_node(n2));
    let get = Command::new(kraftwerk_node())
        .args(["get", "k", "--client-addrs", &c.client_addrs()])
        .output()
        .unwrap();
    assert_eq!(stdout(&get).trim(), "v", "{get:?}");

    // A node whose pid file is lost is still found (in /proc) and stopped.
    std::fs::remove_file(c.dir.path().join("n1.pid")).unwrap();
    let out = c.cluster(&["stop"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for (id, pid) in [(1, pids[0]), (2, n2), (3, pids[2])] {
        assert!(
            text.contains(&format!("stopped n{id} (pid {pid})")),
            "{text}"
        );
    }
    assert_eq!(nodes_in(c.dir.path()), Vec::<u32>::new(), "no node left");
    for id in 1..=3 {
        assert!(c.pid(id).is_none(), "n{id}'s pid file removed");
    }

    // Stopping again says so truthfully, node by node.
    let out = c.cluster(&["stop"]);
    assert!(out.status.success(), "{out:?}");
    for id in 1..=3 {
        assert!(
            stdout(&out).contains(&format!("n{id} was not running")),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn cluster_stop_never_signals_a_process_that_is_not_the_node() {
    let c = Local::new();
    std::fs::create_dir_all(c.dir.path()).unwrap();
    // A pid file naming a live process that is not a node of this cluster.
    let mut other = Command::new("sleep").arg("30").spawn().expect("sleep");
    std::fs::write(c.dir.path().join("n1.pid"), other.id().to_string()).unwrap();
    let out = c.cluster(&["stop"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("n1 was not running (removed its stale pid file"),
        "{text}"
    );
    assert!(text.contains("n2 was not running"), "{text}");
    assert!(
        matches!(other.try_wait(), Ok(None)),
        "the other process lives"
    );
    let _ = other.kill();
    let _ = other.wait();
}

#[test]
fn cluster_flags_are_checked_in_one_line() {
    let c = Local::new();
    assert_one_line_exit_2(&c.cluster(&["start", "--node", "4"]), "--node");
    assert_one_line_exit_2(&c.cluster(&["stop", "--node", "1"]), "--node");
    assert_one_line_exit_2(&c.cluster(&["start", "--node", "-1"]), "non-negative");
}

#[test]
fn a_client_command_with_no_cluster_says_so_at_once() {
    // Privileged ports of a loopback address that no test binds: refused
    // for certain (a port from free_port could be taken meanwhile by a
    // node of a test running beside this one, which made this wait).
    let addrs = (0..3)
        .map(|i| format!("{}=127.0.0.77:{}", i + 1, i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let started = Instant::now();
    let out = Command::new(kraftwerk_node())
        .args(["put", "k", "v", "--client-addrs", &addrs])
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no node answers at any address (connection refused"),
        "{stderr}"
    );
    // Not the 20 s deadline.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_reader_that_goes_away_ends_a_client_command_quietly() {
    // A running cluster, so that `status` has lines to write.
    let c = Local::new();
    let started = c.cluster(&["start"]);
    assert!(started.status.success(), "{started:?}");
    let addrs = c.client_addrs();
    // `status | head -0`: the pipe's reading end is closed before the
    // command writes its first line.
    let mut child = Command::new(kraftwerk_node())
        .args(["status", "--client-addrs", &addrs])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
}
