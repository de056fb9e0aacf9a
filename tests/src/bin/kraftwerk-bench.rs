//! `kraftwerk-bench`: puts/s and latency of kraftwerk-node (Raft, KRaft)
//! and etcd 3.4, side by side, in one run on this machine.
//!
//! ```text
//! cargo build --release -p kraftwerk-impl -p kraftwerk-tests
//! target/release/kraftwerk-bench            # 1, 16, 64 clients; a minute or two
//! ```
//!
//! For each system it starts a fresh three-member cluster on 127.0.0.1,
//! runs every client count against it, and stops it; then it prints one
//! table. See [`kraftwerk_tests::bench`] for how the load is generated.

use clap::Parser;
use kraftwerk_impl::client::Client;
use kraftwerk_tests::bench::{self, etcd, BenchClient, KraftwerkCluster, Point, System};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// How long a fresh cluster may take to elect a leader and commit a put.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// The members of every cluster.
const MEMBERS: u32 = 3;

/// The largest value accepted (etcd refuses requests above 1.5 MiB).
const MAX_VALUE_SIZE: usize = 1 << 20;

#[derive(Parser)]
#[command(
    name = "kraftwerk-bench",
    about = "Benchmark kraftwerk-node (raft, kraft) and etcd 3.4 side by side: \
             3-member clusters on 127.0.0.1, fsync on, closed-loop clients of puts"
)]
struct Cli {
    /// Client counts to measure, one table row each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Puts per (system, client count) point, shared among the clients.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Systems to measure.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "raft,kraft,etcd"
    )]
    protocols: Vec<System>,
    /// The kraftwerk-node binary (default: next to this binary).
    #[arg(long)]
    node_bin: Option<PathBuf>,
    /// The etcd binary (default: `etcd` on PATH).
    #[arg(long)]
    etcd_bin: Option<PathBuf>,
    /// Rounds: each starts every system's cluster afresh and measures every
    /// client count; the table shows each point's median round (by puts/s).
    /// More than one evens out a machine shared with other work.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Threads of the load generator (1, as `kraftwerk-node bench`).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("kraftwerk-bench: error: {}", kraftwerk_impl::usage_line(&e));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err((msg, code)) => {
            eprintln!("kraftwerk-bench: error: {msg}");
            ExitCode::from(code)
        }
    }
}

/// What the run needs, checked before anything starts.
struct Plan {
    systems: Vec<System>,
    clients: Vec<usize>,
    requests: usize,
    value_size: usize,
    rounds: usize,
    node_bin: Option<PathBuf>,
    etcd_bin: Option<(PathBuf, String)>,
}

fn plan(cli: &Cli) -> Result<Plan, String> {
    let mut systems = cli.protocols.clone();
    systems.sort();
    systems.dedup();
    // Each count once, in the order given.
    let mut clients = Vec::new();
    for &c in &cli.clients {
        if !clients.contains(&c) {
            clients.push(c);
        }
    }
    if systems.is_empty() {
        return Err("--protocols is empty".into());
    }
    if clients.is_empty() || clients.contains(&0) {
        return Err("--clients must be positive counts, e.g. 1,16,64".into());
    }
    let most = clients.iter().copied().max().unwrap_or(1);
    if cli.requests < most {
        return Err(format!(
            "--requests {} is fewer than --clients {most} (each client needs a request)",
            cli.requests
        ));
    }
    if cli.value_size == 0 || cli.value_size > MAX_VALUE_SIZE {
        return Err(format!("--value-size must be 1..={MAX_VALUE_SIZE}"));
    }
    if cli.rounds == 0 || cli.rounds > 100 {
        return Err("--rounds must be 1..=100".into());
    }
    if cli.client_threads == 0 || cli.client_threads > 64 {
        return Err("--client-threads must be 1..=64".into());
    }
    let node_bin = if systems.iter().any(|&s| s != System::Etcd) {
        Some(find_node(cli.node_bin.as_deref())?)
    } else {
        None
    };
    let etcd_bin = if systems.contains(&System::Etcd) {
        let bin = match &cli.etcd_bin {
            Some(p) if p.is_file() => p.clone(),
            Some(p) => {
                return Err(format!(
                    "--etcd-bin {} does not exist; install etcd with `{}`",
                    p.display(),
                    etcd::INSTALL_HINT
                ))
            }
            None => etcd::find_etcd()?,
        };
        let version = etcd::version(&bin)?;
        Some((bin, version))
    } else {
        None
    };
    Ok(Plan {
        systems,
        clients,
        requests: cli.requests,
        value_size: cli.value_size,
        rounds: cli.rounds,
        node_bin,
        etcd_bin,
    })
}

fn find_node(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("--node-bin {} does not exist", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let sibling = exe.with_file_name("kraftwerk-node");
    if sibling.is_file() {
        Ok(sibling)
    } else {
        Err(format!(
            "{} not found; build it with `cargo build --release -p kraftwerk-impl` or pass --node-bin",
            sibling.display()
        ))
    }
}

fn run(cli: Cli) -> Result<(), (String, u8)> {
    let plan = plan(&cli).map_err(|e| (e, 2))?;
    let rt = if cli.client_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.client_threads)
            .enable_all()
            .build()
    }
    .map_err(|e| (format!("cannot start the runtime: {e}"), 1))?;

    println!(
        "# kraftwerk-bench: {MEMBERS} members per cluster on 127.0.0.1, fsync on, data under {}",
        std::env::temp_dir().display()
    );
    println!(
        "# {} requests per point, {}-byte values, closed loop, {} load-generator thread(s), \
         median of {} round(s)",
        plan.requests, plan.value_size, cli.client_threads, plan.rounds
    );
    if let Some((bin, version)) = &plan.etcd_bin {
        println!(
            "# etcd: {} ({version}), gRPC KV/Put over HTTP/2",
            bin.display()
        );
    }
    println!("# load average before: {}", load_average());

    let points = rt.block_on(async {
        let mut signals = Interrupts::new()?;
        tokio::select! {
            r = measure(&plan) => r,
            sig = signals.next() => Err(format!("interrupted by {sig}; every cluster was stopped")),
        }
    });
    // Leaving block_on dropped the measuring future and with it every
    // cluster (their processes are killed on drop).
    let points: BTreeMap<(System, usize), Point> = points
        .map_err(|e| (e, 1))?
        .into_iter()
        .map(|(k, rounds)| (k, bench::median(rounds)))
        .collect();
    println!("# load average after: {}", load_average());
    println!();
    print!("{}", bench::table(&plan.systems, &plan.clients, &points));
    Ok(())
}

/// SIGINT and SIGTERM, caught from the moment this exists (so that a
/// signal during start-up still stops the clusters cleanly).
struct Interrupts {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> Result<Interrupts, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let e = |e: std::io::Error| format!("cannot catch signals: {e}");
        Ok(Interrupts {
            int: signal(SignalKind::interrupt()).map_err(e)?,
            term: signal(SignalKind::terminate()).map_err(e)?,
        })
    }

    /// Resolves on the next SIGINT or SIGTERM with its name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// CPU seconds (user and system) this process has used, its children not
/// included.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Every round's point of every (system, client count).
type Rounds = BTreeMap<(System, usize), Vec<Point>>;

async fn measure(plan: &Plan) -> Result<Rounds, String> {
    let mut points = Rounds::new();
    for _ in 0..plan.rounds {
        measure_round(plan, &mut points).await?;
    }
    Ok(points)
}

async fn measure_round(plan: &Plan, points: &mut Rounds) -> Result<(), String> {
    for &system in &plan.systems {
        match system {
            System::Raft | System::Kraft => {
                let bin = plan.node_bin.as_deref().ok_or("no kraftwerk-node")?;
                let mut cluster = KraftwerkCluster::start(bin, system.name(), MEMBERS)?;
                cluster.wait_ready(READY_LIMIT).await?;
                for &n in &plan.clients {
                    let clients = (0..n)
                        .map(|_| BenchClient::Kraftwerk(Box::new(Client::new(cluster.addrs(), 0))))
                        .collect();
                    let p = point(system, n, clients, plan).await?;
                    points.entry((system, n)).or_default().push(p);
                }
            }
            System::Etcd => {
                let (bin, _) = plan.etcd_bin.as_ref().ok_or("no etcd")?;
                let mut cluster = etcd::EtcdCluster::start(bin, MEMBERS as usize)?;
                let leader = cluster.wait_leader(READY_LIMIT).await?;
                for &n in &plan.clients {
                    let mut clients = Vec::with_capacity(n);
                    for _ in 0..n {
                        clients.push(BenchClient::Etcd(
                            bench::grpc::GrpcConn::connect(&leader).await?,
                        ));
                    }
                    let p = point(system, n, clients, plan).await?;
                    points.entry((system, n)).or_default().push(p);
                }
            }
        }
    }
    Ok(())
}

async fn point(
    system: System,
    n: usize,
    clients: Vec<BenchClient>,
    plan: &Plan,
) -> Result<Point, String> {
    let cpu_before = own_cpu_seconds();
    let p = bench::closed_loop(clients, plan.requests, plan.value_size)
        .await
        .map_err(|e| format!("{} with {n} clients: {e}", system.name()))?;
    // The load generator's own CPU per put (warm-up included): whether it,
    // rather than the cluster, could be the limit.
    let cpu_us = (own_cpu_seconds() - cpu_before) * 1e6 / p.requests as f64;
    println!(
        "# {} clients={n} requests={} puts/s={:.0} p50_ms={:.2} p99_ms={:.2} \
         bench_cpu_us/put={cpu_us:.0} load={}",
        system.name(),
        p.requests,
        p.puts_per_s,
        p.p50_ms,
        p.p99_ms,
        load_average()
    );
    Ok(p)
}
