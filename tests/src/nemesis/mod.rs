//! A Jepsen-style fault harness ("nemesis") for real `kraftwerk-node`
//! clusters: every node in its own kernel network namespace ([`net`],
//! [`cluster`]), concurrent clients recording a history ([`workload`]), a
//! fault schedule drawn from a printed seed ([`faults`]), then healing,
//! convergence, a count of lost acknowledged writes and a linearizability
//! check of the history ([`crate::linearizability`]).
//!
//! `KRAFTWERK_NEMESIS_SEED` replays a seed; `KRAFTWERK_NEMESIS_SECS`
//! lengthens the faults (default 40 s).

pub mod cluster;
pub mod faults;
pub mod net;
pub mod rng;
pub mod workload;

use crate::linearizability::{self, Operation};
use cluster::{leader_of, NsCluster};
use faults::{Fault, Target};
use rng::Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One run's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// `raft` or `kraft`.
    pub protocol: String,
    /// Cluster size.
    pub nodes: u32,
    /// How long faults are injected.
    pub fault_time: Duration,
    /// The seed of the schedule and the workload.
    pub seed: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// How long the healed cluster may take to converge.
    pub converge_limit: Duration,
}

impl Config {
    /// The settings for `protocol` on `nodes` nodes, with the seed and the
    /// fault time from the environment (or a fresh seed and 40 s).
    pub fn from_env(protocol: &str, nodes: u32) -> Result<Config, String> {
        let seed = match std::env::var("KRAFTWERK_NEMESIS_SEED") {
            Ok(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("KRAFTWERK_NEMESIS_SEED={s:?} is not a u64"))?,
            Err(_) => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                Rng::new(t ^ u64::from(std::process::id()) << 32).next_u64()
            }
        };
        let secs = match std::env::var("KRAFTWERK_NEMESIS_SECS") {
            Ok(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("KRAFTWERK_NEMESIS_SECS={s:?} is not a number of seconds"))?,
            Err(_) => 40,
        };
        Ok(Config {
            protocol: protocol.into(),
            nodes,
            fault_time: Duration::from_secs(secs),
            seed,
            clients: 5,
            converge_limit: Duration::from_secs(20),
        })
    }
}

/// What a successful run measured.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Faults run, by kind.
    pub faults: BTreeMap<&'static str, usize>,
    /// Operations checked for linearizability, by outcome.
    pub ok: usize,
    /// See `ok`.
    pub fail: usize,
    /// See `ok`.
    pub unknown: usize,
    /// Acknowledged write-once keys read back intact.
    pub acked_writes: usize,
    /// Time from the clients' stop (faults healed) to identical state on
    /// every node.
    pub convergence: Duration,
}

/// Writes to the real stderr, bypassing the test harness's capture, so
/// that the seed and the schedule show in CI logs as they happen.
fn say(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "nemesis: {line}");
}

/// A shared transcript: every line is printed at once and kept for the
/// failure message.
#[derive(Clone, Default)]
struct Transcript(Arc<Mutex<Vec<String>>>);

impl Transcript {
    fn line(&self, start: Instant, text: impl AsRef<str>) {
        let l = format!("{:>7.2}s {}", start.elapsed().as_secs_f64(), text.as_ref());
        say(&l);
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(l);
    }
    fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
    }
}

/// Runs the nemesis against a fresh cluster and checks the outcome. The
/// error is the whole failure report: seed, schedule as it ran, and the
/// minimal failing history or what else went wrong.
pub fn run(cfg: &Config) -> Result<Summary, String> {
    let head = format!(
        "{} nodes of {}, seed {} (replay: KRAFTWERK_NEMESIS_SEED={}), {} s of faults, {} clients",
        cfg.nodes,
        cfg.protocol,
        cfg.seed,
        cfg.seed,
        cfg.fault_time.as_secs(),
        cfg.clients
    );
    say(&head);
    let transcript = Transcript::default();
    let result = run_inner(cfg, &transcript);
    result.map_err(|why| {
        format!(
            "nemesis FAILED: {head}\nschedule as it ran:\n{}\n{why}",
            transcript.text()
        )
    })
}

fn run_inner(cfg: &Config, tr: &Transcript) -> Result<Summary, String> {
    let start = Instant::now();
    for r in net::sweep() {
        tr.line(start, format!("removed a stale leftover: {r}"));
    }
    let mut c = NsCluster::new(&cfg.protocol, cfg.nodes).map_err(|e| {
        format!(
            "cannot set up the network namespaces (the nemesis tests need root, \
             iproute2 and iptables): {e}"
        )
    })?;
    tr.line(
        start,
        format!(
            "network: bridge {} ({}), namespaces {}, {}; slow links: {}",
            c.net.bridge,
            c.net.bridge_ip,
            c.net
                .nodes
                .iter()
                .map(|n| format!("{}={}", n.ns, n.ip))
                .collect::<Vec<_>>()
                .join(" "),
            c.net.iptables,
            c.net.slow.describe()
        ),
    );
    c.start_all()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    let leader = wait_until(Duration::from_secs(20), || {
        leader_of(&rt.block_on(c.statuses(Duration::from_millis(500))))
    })
    .ok_or_else(|| format!("no leader within 20 s\n{}", logs(&c)))?;
    tr.line(start, format!("n{leader} leads; clients start"));

    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..cfg.clients)
        .map(|id| {
            rt.spawn(workload::client_loop(
                id,
                c.client_addrs(),
                cfg.seed,
                t0,
                stop.clone(),
            ))
        })
        .collect();

    let faulted = nemesis(cfg, &mut c, &rt, tr, start);
    // Heal whatever happened, then let the clients run on a healed
    // cluster for a moment before stopping them.
    let healed = c.heal();
    tr.line(start, "healed: no rules, no qdiscs, every node running");
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let logs_by_client: Vec<workload::ClientLog> = rt.block_on(async {
        let mut out = Vec::new();
        for t in clients {
            out.push(t.await.unwrap_or_default());
        }
        out
    });
    let faults = faulted?;
    healed?;
    let stopped = Instant::now();
    tr.line(start, "clients stopped");

    // Convergence: every node reachable, the same applied index and the
    // same digest of its key-value map.
    let converged = wait_until(cfg.converge_limit, || {
        let st = rt.block_on(c.statuses(Duration::from_millis(500)));
        let all: Vec<_> = st.values().flatten().collect();
        (all.len() == cfg.nodes as usize
            && leader_of(&st).is_some()
            && all
                .iter()
                .all(|s| s.applied == all[0].applied && s.digest == all[0].digest)
            && all[0].applied > 0)
            .then_some(all[0].applied)
    });
    // A cluster that does not converge is a failure, but the safety
    // checks below still run (a majority may still serve), so that the
    // report says everything that went wrong.
    let mut problems = Vec::new();
    let convergence = stopped.elapsed();
    match converged {
        Some(applied) => tr.line(
            start,
            format!(
                "converged in {} ms: every node applied {applied} entries, same digest",
                convergence.as_millis()
            ),
        ),
        None => {
            let st = rt.block_on(c.statuses(Duration::from_millis(500)));
            let brief: Vec<String> = st
                .iter()
                .map(|(id, s)| match s {
                    Some(s) => format!(
                        "n{id} {} term {} leader {:?} commit {} applied {} digest {:x}",
                        s.role, s.term, s.leader, s.commit, s.applied, s.digest
                    ),
                    None => format!("n{id} unreachable"),
                })
                .collect();
            tr.line(
                start,
                format!(
                    "NO CONVERGENCE within {:?}:\n          {}",
                    cfg.converge_limit,
                    brief.join("\n          ")
                ),
            );
            problems.push(format!(
                "no convergence within {:?} after healing:\n  {}\n{}",
                cfg.converge_limit,
                brief.join("\n  "),
                logs(&c)
            ));
        }
    }
    let crashed = c.exited();
    if !crashed.is_empty() {
        problems.push(format!(
            "nodes exited by themselves: {crashed:?}\n{}",
            logs(&c)
        ));
    }

    let mut history: Vec<Operation> = Vec::new();
    let mut acked = Vec::new();
    let mut once_unknown = 0;
    let mut errors = Vec::new();
    for l in logs_by_client {
        history.extend(l.history);
        acked.extend(l.once_acked);
        once_unknown += l.once_unknown;
        errors.extend(l.errors);
    }
    if !errors.is_empty() {
        problems.push(format!("wrong answers:\n  {}", errors.join("\n  ")));
    }
    let lost = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(90),
                workload::lost_writes(&c.client_addrs(), &acked),
            )
            .await
        })
        .unwrap_or_else(|_| vec!["reading the write-once keys back timed out (90 s)".into()]);
    tr.line(
        start,
        format!(
            "write-once keys: {} acknowledged, {} unknown, {} lost",
            acked.len(),
            once_unknown,
            lost.len()
        ),
    );
    if !lost.is_empty() {
        problems.push(format!(
            "LOST {} acknowledged writes:\n  {}",
            lost.len(),
            lost.join("\n  ")
        ));
    }
    let t_check = Instant::now();
    let report = match linearizability::check(&history) {
        Ok(r) => r,
        Err(v) => {
            problems.push(format!(
                "NOT LINEARIZABLE (times in ms since the clients started)\n{v}"
            ));
            return Err(problems.join("\n"));
        }
    };
    tr.line(
        start,
        format!(
            "linearizable: {} operations on {} keys ({} ok, {} fail, {} unknown), checked in {} ms",
            history.len(),
            report.keys,
            report.ok,
            report.fail,
            report.unknown,
            t_check.elapsed().as_millis()
        ),
    );
    if !report.inconclusive.is_empty() {
        problems.push(format!(
            "the linearizability search gave up on keys {:?} (history too concurrent)",
            report.inconclusive
        ));
    }
    if report.ok == 0 {
        problems.push("no operation succeeded: nothing was checked".into());
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    Ok(Summary {
        faults,
        ok: report.ok,
        fail: report.fail,
        unknown: report.unknown,
        acked_writes: acked.len(),
        convergence,
    })
}

/// The median of three status round trips to node `id`, as text.
fn round_trip(c: &NsCluster, rt: &tokio::runtime::Runtime, id: u32) -> String {
    let addr = c.client_addrs()[id as usize - 1].clone();
    let mut times: Vec<Option<Duration>> = (0..3)
        .map(|_| {
            let t = Instant::now();
            rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(2),
                    kraftwerk_impl::client::status(&addr, 0),
                )
                .await
            })
            .ok()
            .and_then(Result::ok)
            .map(|_| t.elapsed())
        })
        .collect();
    times.sort();
    match times[1] {
        Some(d) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        None => "no answer".into(),
    }
}

/// Polls `f` every 100 ms for at most `limit`.
fn wait_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(x) = f() {
            return Some(x);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn logs(c: &NsCluster) -> String {
    c.ids()
        .into_iter()
        .map(|id| format!("--- n{id} log (last lines):\n{}", c.log_tail(id, 15)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the schedule for the configured time; the faults run, by kind.
fn nemesis(
    cfg: &Config,
    c: &mut NsCluster,
    rt: &tokio::runtime::Runtime,
    tr: &Transcript,
    start: Instant,
) -> Result<BTreeMap<&'static str, usize>, String> {
    let schedule = faults::schedule(cfg.seed, cfg.nodes, cfg.fault_time);
    // Resolving "the leader" when no node leads picks from this stream.
    let mut pick = Rng::new(cfg.seed.rotate_left(17) ^ 0x006e_656d_6573_6973);
    let began = Instant::now();
    let mut counts = BTreeMap::new();
    let ids = c.ids();
    for (done, step) in schedule.into_iter().enumerate() {
        // At least one fault of each kind (the first seven), then until
        // the time is up.
        if began.elapsed() >= cfg.fault_time && done >= 7 {
            break;
        }
        let crashed = c.exited();
        if !crashed.is_empty() {
            return Err(format!(
                "nodes exited by themselves: {crashed:?}\n{}",
                logs(c)
            ));
        }
        let leader = leader_of(&rt.block_on(c.statuses(Duration::from_millis(300))));
        let resolve = |t: Target, pick: &mut Rng| match t {
            Target::Node(n) => (n, ""),
            Target::Leader => match leader {
                Some(l) => (l, " (the leader)"),
                None => (*pick.pick(&ids), " (no leader known: a random node)"),
            },
        };
        let what = match &step.fault {
            Fault::Kill(t) => {
                let (n, why) = resolve(*t, &mut pick);
                c.kill(n);
                format!("kill -9 n{n}{why}")
            }
            Fault::Pause(t) => {
                let (n, why) = resolve(*t, &mut pick);
                c.pause(n);
                format!("SIGSTOP n{n}{why}")
            }
            Fault::IsolateLeader => {
                let (l, why) = resolve(Target::Leader, &mut pick);
                for &o in ids.iter().filter(|&&o| o != l) {
                    c.net.cut(l, o)?;
                }
                format!("isolate n{l}{why}")
            }
            Fault::Split { minority } => {
                for &a in minority {
                    for &b in ids.iter().filter(|b| !minority.contains(b)) {
                        c.net.cut(a, b)?;
                    }
                }
                step.fault.to_string()
            }
            Fault::Bridge { left, right, .. } => {
                for &a in left {
                    for &b in right {
                        c.net.cut(a, b)?;
                    }
                }
                step.fault.to_string()
            }
            Fault::Loss { nodes, percent } => {
                for &n in nodes {
                    c.net.lose(n, f64::from(*percent) / 100.0)?;
                }
                step.fault.to_string()
            }
            Fault::Slow { nodes } => {
                let n0 = nodes[0];
                let before = round_trip(c, rt, n0);
                for &n in nodes {
                    c.net.slow_down(n)?;
                }
                std::thread::sleep(Duration::from_millis(300));
                let during = round_trip(c, rt, n0);
                format!(
                    "{} ({}; status round trip to n{n0}: {before} before, {during} during)",
                    step.fault,
                    c.net.slow.describe()
                )
            }
        };
        *counts.entry(step.fault.kind()).or_insert(0) += 1;
        tr.line(
            start,
            format!("{what} for {:.1} s", step.hold.as_secs_f64()),
        );
        std::thread::sleep(step.hold);
        c.heal()?;
        tr.line(start, "heal");
        std::thread::sleep(step.gap);
    }
    Ok(counts)
}
