//! Real kernel network namespaces for a cluster: one namespace per node,
//! each with a veth pair whose other end is on a Linux bridge in the root
//! namespace; the bridge has an address, so clients in the root namespace
//! reach every node. Faults are iptables rules and tc qdiscs *inside* the
//! node namespaces, so they vanish with the namespaces.
//!
//! Every name starts with `kw<pid>c<n>` (the test process id and a
//! counter), short enough for interface names (at most 15 bytes). Drop
//! removes everything created here, even while a test panics; [`sweep`]
//! removes the leftovers of test processes that no longer exist.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Runs `cmd args`, returning stdout, or a one-line error with stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// How a slow link is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowKind {
    /// `tc netem delay` (when the kernel has it).
    Netem,
    /// A `tc tbf` rate limit: queueing delay, then drops (no netem here).
    Tbf,
}

impl SlowKind {
    /// How the output names it.
    pub fn describe(self) -> &'static str {
        match self {
            SlowKind::Netem => "netem delay 80ms +-40ms",
            SlowKind::Tbf => "tbf rate 200kbit latency 400ms (netem is not available)",
        }
    }
}

/// The namespaces, veths and bridge of one cluster.
pub struct Net {
    /// The name prefix, `kw<pid>c<n>`.
    pub prefix: String,
    /// The bridge in the root namespace.
    pub bridge: String,
    /// The bridge's address (the clients' source address).
    pub bridge_ip: String,
    /// Per node (index 0 is node 1): namespace, node-side veth, address.
    pub nodes: Vec<NodeNet>,
    /// The iptables command that works in the namespaces.
    pub iptables: String,
    /// How links are slowed.
    pub slow: SlowKind,
    created_bridge: bool,
    created_ns: Vec<String>,
}

/// One node's namespace.
#[derive(Clone, Debug)]
pub struct NodeNet {
    /// The namespace.
    pub ns: String,
    /// The veth end inside it.
    pub veth: String,
    /// Its address.
    pub ip: String,
}

fn pid_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("kw")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() || !rest[digits.len()..].starts_with('c') {
        return None;
    }
    digits.parse().ok()
}

fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Kills every process in namespace `ns` (SIGKILL; a stopped one too).
fn kill_in_ns(ns: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", ns]) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill(2) with a pid read from the kernel; no memory
            // is involved.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Removes namespaces and links named by test processes that are gone.
/// Returns what was removed.
pub fn sweep() -> Vec<String> {
    let mut removed = Vec::new();
    if let Ok(list) = run("ip", &["netns", "list"]) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if pid_of(name).is_some_and(|p| !process_exists(p)) {
                kill_in_ns(name);
                if run("ip", &["netns", "del", name]).is_ok() {
                    removed.push(format!("netns {name}"));
                }
            }
        }
    }
    if let Ok(list) = run("ip", &["-o", "link", "show"]) {
        for line in list.lines() {
            // "12: kw123c0h1@if11: <...>"
            let Some(name) = line.split(": ").nth(1) else {
                continue;
            };
            let name = name.split('@').next().unwrap_or(name);
            if pid_of(name).is_some_and(|p| !process_exists(p))
                && run("ip", &["link", "del", name]).is_ok()
            {
                removed.push(format!("link {name}"));
            }
        }
    }
    removed
}

/// A /24 in 10.0.0.0/8 not used by any address on this machine.
fn free_subnet(seed: u32) -> Result<String, String> {
    let used = run("ip", &["-4", "-o", "addr", "show"])?;
    for k in 0..4096u32 {
        let x = seed.wrapping_add(k.wrapping_mul(2_654_435_761)) % (200 * 256);
        let net = format!("10.{}.{}", 20 + x / 256, x % 256);
        if !used.contains(&format!(" {net}.")) {
            return Ok(net);
        }
    }
    Err("no free 10.x.y.0/24 subnet".into())
}

impl Net {
    /// Creates the bridge and `n` node namespaces. An error says what
    /// could not be created (not root, no `ip`, no namespaces).
    pub fn new(n: u32) -> Result<Net, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let k = COUNTER.fetch_add(1, Ordering::Relaxed);
        // kw + pid (at most 7 digits) + c + counter (base 36, 1 char) + 1
        // char kind + 1 digit: at most 13 bytes.
        let tag = std::char::from_digit(k % 36, 36).unwrap_or('0');
        let prefix = format!("kw{pid}c{tag}");
        let subnet = free_subnet(pid.wrapping_mul(31).wrapping_add(k))?;
        let mut net = Net {
            bridge: format!("{prefix}b"),
            bridge_ip: format!("{subnet}.1"),
            prefix: prefix.clone(),
            nodes: Vec::new(),
            iptables: String::new(),
            slow: SlowKind::Tbf,
            created_bridge: false,
            created_ns: Vec::new(),
        };
        // A leftover of an earlier run of this very process id.
        for i in 1..=n {
            let _ = run("ip", &["netns", "del", &format!("{prefix}n{i}")]);
        }
        let _ = run("ip", &["link", "del", &net.bridge]);

        run("ip", &["link", "add", &net.bridge, "type", "bridge"])?;
        net.created_bridge = true;
        run(
            "ip",
            &["addr", "add", &format!("{subnet}.1/24"), "dev", &net.bridge],
        )?;
        run("ip", &["link", "set", &net.bridge, "up"])?;
        for i in 1..=n {
            let ns = format!("{prefix}n{i}");
            let host = format!("{prefix}h{i}");
            let veth = format!("{prefix}v{i}");
            let ip = format!("{subnet}.{}", 10 + i);
            run("ip", &["netns", "add", &ns])?;
            net.created_ns.push(ns.clone());
            run(
                "ip",
                &["link", "add", &host, "type", "veth", "peer", "name", &veth],
            )?;
            // The pair goes away with the namespace once moved into it.
            run("ip", &["link", "set", &veth, "netns", &ns])?;
            run("ip", &["link", "set", &host, "master", &net.bridge])?;
            run("ip", &["link", "set", &host, "up"])?;
            net.exec(
                &ns,
                &["ip", "addr", "add", &format!("{ip}/24"), "dev", &veth],
            )?;
            net.exec(&ns, &["ip", "link", "set", &veth, "up"])?;
            net.exec(&ns, &["ip", "link", "set", "lo", "up"])?;
            net.nodes.push(NodeNet { ns, veth, ip });
        }
        net.iptables = net.find_iptables()?;
        net.slow = net.find_slow_kind()?;
        Ok(net)
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["netns", "exec", ns];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    fn node(&self, id: u32) -> &NodeNet {
        &self.nodes[id as usize - 1]
    }

    /// Runs a command in node `id`'s namespace.
    pub fn in_node(&self, id: u32, args: &[&str]) -> Result<String, String> {
        self.exec(&self.node(id).ns, args)
    }

    fn ipt(&self, id: u32, args: &[&str]) -> Result<(), String> {
        let mut all = vec![self.iptables.as_str(), "-w"];
        all.extend_from_slice(args);
        self.in_node(id, &all).map(|_| ())
    }

    /// The iptables variant that can add a rule in a namespace.
    fn find_iptables(&self) -> Result<String, String> {
        let mut errors = Vec::new();
        for cmd in ["iptables", "iptables-legacy"] {
            let probe = self
                .in_node(
                    1,
                    &[cmd, "-w", "-A", "INPUT", "-s", "192.0.2.255", "-j", "DROP"],
                )
                .and_then(|_| self.in_node(1, &[cmd, "-w", "-F", "INPUT"]));
            match probe {
                Ok(_) => return Ok(cmd.to_string()),
                Err(e) => errors.push(e),
            }
        }
        Err(format!(
            "no working iptables (apt-get install iptables): {}",
            errors.join("; ")
        ))
    }

    /// netem if the kernel has it, else tbf.
    fn find_slow_kind(&self) -> Result<SlowKind, String> {
        let n = self.node(1);
        let netem = self.in_node(
            1,
            &[
                "tc", "qdisc", "add", "dev", &n.veth, "root", "netem", "delay", "1ms",
            ],
        );
        let _ = self.in_node(1, &["tc", "qdisc", "del", "dev", &n.veth, "root"]);
        if netem.is_ok() {
            return Ok(SlowKind::Netem);
        }
        let tbf = self.in_node(
            1,
            &[
                "tc", "qdisc", "add", "dev", &n.veth, "root", "tbf", "rate", "1mbit", "burst",
                "4kb", "latency", "100ms",
            ],
        );
        let _ = self.in_node(1, &["tc", "qdisc", "del", "dev", &n.veth, "root"]);
        tbf.map(|_| SlowKind::Tbf)
            .map_err(|e| format!("neither netem nor tbf works: {e}"))
    }

    /// Node `id`'s address.
    pub fn ip(&self, id: u32) -> &str {
        &self.node(id).ip
    }

    /// Drops all traffic between nodes `a` and `b` (both directions, rules
    /// on both sides).
    pub fn cut(&self, a: u32, b: u32) -> Result<(), String> {
        for (x, y) in [(a, b), (b, a)] {
            let peer = self.ip(y).to_string();
            self.ipt(x, &["-A", "INPUT", "-s", &peer, "-j", "DROP"])?;
            self.ipt(x, &["-A", "OUTPUT", "-d", &peer, "-j", "DROP"])?;
        }
        Ok(())
    }

    /// Drops each packet node `id` receives with probability `p`.
    pub fn lose(&self, id: u32, p: f64) -> Result<(), String> {
        self.ipt(
            id,
            &[
                "-A",
                "INPUT",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &format!("{p:.3}"),
                "-j",
                "DROP",
            ],
        )
    }

    /// Slows node `id`'s outgoing link.
    pub fn slow_down(&self, id: u32) -> Result<(), String> {
        let veth = self.node(id).veth.clone();
        let mut args = vec!["tc", "qdisc", "replace", "dev", &veth, "root"];
        match self.slow {
            SlowKind::Netem => args.extend(["netem", "delay", "80ms", "40ms"]),
            SlowKind::Tbf => {
                args.extend(["tbf", "rate", "200kbit", "burst", "4kb", "latency", "400ms"])
            }
        }
        self.in_node(id, &args).map(|_| ())
    }

    /// Removes every iptables rule and qdisc from every node namespace.
    pub fn heal(&self) -> Result<(), String> {
        for id in 1..=self.nodes.len() as u32 {
            self.ipt(id, &["-F", "INPUT"])?;
            self.ipt(id, &["-F", "OUTPUT"])?;
            let veth = self.node(id).veth.clone();
            // Fails when there is none: fine.
            let _ = self.in_node(id, &["tc", "qdisc", "del", "dev", &veth, "root"]);
        }
        Ok(())
    }

    /// The rules in node `id`'s namespace (for diagnostics and tests).
    pub fn rules(&self, id: u32) -> String {
        self.in_node(id, &[&self.iptables, "-w", "-S"])
            .unwrap_or_else(|e| e)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.created_ns {
            kill_in_ns(ns);
            let _ = self.exec(ns, &[&self.iptables_or_default(), "-w", "-F"]);
            if let Err(e) = run("ip", &["netns", "del", ns]) {
                eprintln!("nemesis: cleanup: {e}");
            }
        }
        // Host-side veths go with their peers; remove any left (a pair
        // created but not moved).
        for i in 1..=self.created_ns.len() {
            let _ = run("ip", &["link", "del", &format!("{}h{i}", self.prefix)]);
        }
        if self.created_bridge {
            if let Err(e) = run("ip", &["link", "del", &self.bridge]) {
                eprintln!("nemesis: cleanup: {e}");
            }
        }
    }
}

impl Net {
    fn iptables_or_default(&self) -> String {
        if self.iptables.is_empty() {
            "iptables".into()
        } else {
            self.iptables.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner_pid() {
        assert_eq!(pid_of("kw1234c0n1"), Some(1234));
        assert_eq!(pid_of("kw99cab"), Some(99));
        assert_eq!(pid_of("kwx1c0"), None);
        assert_eq!(pid_of("kw12"), None);
        assert_eq!(pid_of("eth0"), None);
        // The longest names fit an interface name (15 bytes).
        assert!(format!("kw{}c{}h{}", 4_194_304, 'z', 9).len() <= 15);
    }
}
