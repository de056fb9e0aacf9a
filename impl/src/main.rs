//! `kraftwerk-node`: run a node, talk to a cluster, benchmark it, or start
//! a local three-node cluster.

use clap::{Parser, Subcommand};
use kraftwerk_impl::client::{self, Client};
use kraftwerk_impl::core::Protocol;
use kraftwerk_impl::kv::{Command, Outcome};
use kraftwerk_impl::server::{self, ServeConfig};
use kraftwerk_impl::tls::{ClientTls, NodeTlsOptions, TlsFiles};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

mod cluster;

const DEFAULT_CLIENTS: &str = "1=127.0.0.1:8001,2=127.0.0.1:8002,3=127.0.0.1:8003";

/// A client command gives up this long after its first attempt when every
/// node refused the connection (a node just started binds its port well
/// within this).
const REFUSED_GRACE: Duration = Duration::from_millis(250);

#[derive(Parser)]
#[command(
    name = "kraftwerk-node",
    about = "A Kraftwerk key-value cluster node and client"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Target {
    /// Every node's client address, `ID=HOST:PORT,...`.
    #[arg(long, default_value = DEFAULT_CLIENTS, value_parser = parse_map)]
    client_addrs: BTreeMap<u32, String>,
    /// The cluster id in every frame.
    #[arg(long, default_value_t = 0)]
    cluster_id: u64,
    /// Talk TLS, trusting the CA certificate(s) in this PEM file; each
    /// node's certificate must name the host dialed.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// This client's certificate (PEM), for nodes that require one; needs
    /// --tls-key and --tls-ca.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// This client's private key (PEM); needs --tls-cert and --tls-ca.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Give up on a command after this many seconds of retrying.
    #[arg(long, value_name = "SECONDS", default_value_t = 20, allow_negative_numbers = true, value_parser = count::<u64>)]
    timeout: u64,
}

impl Target {
    /// The TLS settings of the client (`None`: plaintext).
    fn tls(&self) -> Result<Option<ClientTls>, Failure> {
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            (None, None) => None,
            (Some(_), None) => return Err(usage("--tls-cert needs --tls-key")),
            (None, Some(_)) => return Err(usage("--tls-key needs --tls-cert")),
        };
        match &self.tls_ca {
            Some(ca) => ClientTls::load(ca, identity).map(Some).map_err(usage),
            None if identity.is_some() => Err(usage("--tls-cert and --tls-key need --tls-ca")),
            None => Ok(None),
        }
    }

    /// A client of every node in `--client-addrs`.
    fn client(&self) -> Result<Client, Failure> {
        if self.timeout == 0 {
            return Err(usage("--timeout must be positive"));
        }
        let addrs = self.client_addrs.values().cloned().collect();
        let mut c = Client::new(addrs, self.cluster_id).with_tls(self.tls()?);
        c.deadline = Duration::from_secs(self.timeout);
        // Nothing listens anywhere: say so now, not after the deadline.
        c.refused_grace = Some(REFUSED_GRACE);
        Ok(c)
    }
}

/// A node's TLS flags: all three files, or none.
fn node_tls(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
    require_client_cert: bool,
) -> Result<Option<NodeTlsOptions>, Failure> {
    match (cert, key, ca) {
        (Some(cert), Some(key), Some(ca)) => Ok(Some(NodeTlsOptions {
            files: TlsFiles { cert, key, ca },
            require_client_cert,
        })),
        (None, None, None) if require_client_cert => Err(usage(
            "--tls-require-client-cert needs --tls-cert, --tls-key and --tls-ca",
        )),
        (None, None, None) => Ok(None),
        (cert, key, ca) => {
            let missing: Vec<&str> = [
                ("--tls-cert", cert.is_none()),
                ("--tls-key", key.is_none()),
                ("--tls-ca", ca.is_none()),
            ]
            .into_iter()
            .filter_map(|(flag, absent)| absent.then_some(flag))
            .collect();
            Err(usage(format!(
                "--tls-cert, --tls-key and --tls-ca go together: missing {}",
                missing.join(", ")
            )))
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one node.
    Serve {
        /// This node's id.
        #[arg(long, allow_negative_numbers = true, value_parser = count::<u32>)]
        id: u32,
        /// Every node's peer address (this one included), `ID=HOST:PORT,...`.
        #[arg(long, value_parser = parse_map)]
        peers: BTreeMap<u32, String>,
        /// This node's client address (default: its entry in --client-addrs).
        #[arg(long)]
        client_addr: Option<String>,
        /// Every node's client address, for leader hints.
        #[arg(long, value_parser = parse_map)]
        client_addrs: Option<BTreeMap<u32, String>>,
        /// Where the log and hard state live.
        #[arg(long)]
        data_dir: PathBuf,
        /// The protocol: raft or kraft.
        #[arg(long, default_value = "raft")]
        protocol: Protocol,
        /// This node starts as a non-voter (KRaft: an observer).
        #[arg(long)]
        observer: bool,
        /// The cluster's non-voting servers (KRaft: observers), the same
        /// list on every node; `reconfig --add` can make them voters.
        #[arg(long, value_delimiter = ',')]
        observers: Vec<u32>,
        /// The cluster id in every frame.
        #[arg(long, default_value_t = 0)]
        cluster_id: u64,
        /// TLS on both ports: this node's certificate (PEM, signed by
        /// --tls-ca, valid for the host of its --peers address). Peer links
        /// are mutually authenticated; needs --tls-key and --tls-ca.
        #[arg(long, value_name = "FILE")]
        tls_cert: Option<PathBuf>,
        /// This node's private key (PEM).
        #[arg(long, value_name = "FILE")]
        tls_key: Option<PathBuf>,
        /// The cluster CA certificate(s) (PEM): peers, and clients with
        /// --tls-require-client-cert, must present a certificate it signed.
        #[arg(long, value_name = "FILE")]
        tls_ca: Option<PathBuf>,
        /// Clients too must present a certificate signed by --tls-ca
        /// (default: any client that verifies the node may talk to it).
        #[arg(long)]
        tls_require_client_cert: bool,
    },
    /// Set a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        #[command(flatten)]
        target: Target,
    },
    /// Read a key (through the log: linearizable).
    Get {
        /// The key.
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Compare-and-set: set KEY to --new if its value is --expected.
    Cas {
        /// The key.
        key: String,
        /// The value required (absent if omitted).
        #[arg(long)]
        expected: Option<String>,
        /// The value to set (delete if omitted).
        #[arg(long)]
        new: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Change the voters (joint consensus: C_old,new, then C_new); prints
    /// OK once the new configuration is committed.
    Reconfig {
        /// Servers to make voters (they must be running: started as
        /// `--observers` of the cluster).
        #[arg(long, value_delimiter = ',')]
        add: Vec<u32>,
        /// Voters to remove (a removed leader steps down).
        #[arg(long, value_delimiter = ',')]
        remove: Vec<u32>,
        #[command(flatten)]
        target: Target,
    },
    /// Show every node's role, term, commit index and log end.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Measure puts per second and latency against a running cluster.
    Bench {
        /// Concurrent clients.
        #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = count::<usize>)]
        clients: usize,
        /// Requests in total.
        #[arg(long, default_value_t = 1000, allow_negative_numbers = true, value_parser = count::<usize>)]
        requests: usize,
        /// Bytes per value.
        #[arg(long, default_value_t = 256, allow_negative_numbers = true, value_parser = count::<usize>)]
        value_size: usize,
        #[command(flatten)]
        target: Target,
    },
    /// Start, stop or inspect a local 3-node cluster on 127.0.0.1.
    Cluster {
        /// start, stop or status.
        #[arg(value_enum)]
        action: ClusterAction,
        /// Data, logs and pid files.
        #[arg(long, default_value = "cluster-data")]
        dir: PathBuf,
        /// The protocol: raft or kraft.
        #[arg(long, default_value = "raft")]
        protocol: Protocol,
        /// start: only node N (1, 2 or 3), e.g. to restart one that died.
        #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = count::<u32>)]
        node: Option<u32>,
        /// Node N's peer port is this + N - 1.
        #[arg(long, default_value_t = 7001, allow_negative_numbers = true, value_parser = count::<u16>)]
        peer_port: u16,
        /// Node N's client port is this + N - 1 (client commands default
        /// to 8001-8003).
        #[arg(long, default_value_t = 8001, allow_negative_numbers = true, value_parser = count::<u16>)]
        client_port: u16,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ClusterAction {
    Start,
    Stop,
    Status,
}

/// A number flag's value: a non-negative integer in range.
fn count<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| "must be a non-negative integer in range".to_string())
}

fn parse_map(s: &str) -> Result<BTreeMap<u32, String>, String> {
    let mut map = BTreeMap::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("expected ID=HOST:PORT, got {part:?}"))?;
        let id: u32 = id.parse().map_err(|_| format!("bad node id {id:?}"))?;
        if addr.is_empty() {
            return Err(format!("empty address for node {id}"));
        }
        map.insert(id, addr.to_string());
    }
    if map.is_empty() {
        return Err("no nodes".into());
    }
    Ok(map)
}

/// A failure: the message and the exit code (2 for usage and start-up).
struct Failure(String, u8);

fn usage(msg: impl Into<String>) -> Failure {
    Failure(msg.into(), 2)
}

fn failed(msg: impl Into<String>) -> Failure {
    Failure(msg.into(), 1)
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
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                eprintln!("kraftwerk-node: error: a subcommand is required (see --help)");
                return ExitCode::from(2);
            }
            eprintln!("kraftwerk-node: error: {}", kraftwerk_impl::usage_line(&e));
            return ExitCode::from(2);
        }
    };
    // Like any Unix filter, a client command ends quietly when its reader
    // goes away (`kraftwerk-node status | head -1`) instead of panicking on
    // a broken pipe. Not a serving node: it must outlive any reader.
    #[cfg(unix)]
    if !matches!(cli.cmd, Cmd::Serve { .. }) {
        // SAFETY: restoring the default disposition of SIGPIPE before any
        // thread starts; no handler runs.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match run(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg, code)) => {
            eprintln!("kraftwerk-node: error: {msg}");
            ExitCode::from(code)
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(format!("cannot start runtime: {e}")))?;
    Ok(rt.block_on(f))
}

fn one(target: &Target, cmd: Command) -> Result<(), Failure> {
    let mut c = target.client()?;
    let out = block_on(async move { c.run(cmd).await })?.map_err(failed)?;
    match out {
        Outcome::Done(_) => println!("OK"),
        Outcome::Value(Some(v)) => println!("{}", String::from_utf8_lossy(&v)),
        Outcome::Value(None) => println!("(nil)"),
        Outcome::Cas { swapped: true, .. } => println!("OK"),
        Outcome::Cas {
            swapped: false,
            previous,
        } => {
            return Err(failed(format!(
                "compare-and-set failed: current value is {}",
                previous.map_or("(nil)".into(), |v| String::from_utf8_lossy(&v).into_owned())
            )))
        }
        Outcome::Invalid => return Err(failed("the cluster could not decode the command")),
        Outcome::Reconfigured => println!("OK"),
    }
    Ok(())
}

/// `reconfig --add 4 --remove 1`: one joint-consensus change.
fn reconfig(target: &Target, add: &[u32], remove: &[u32]) -> Result<(), Failure> {
    use kraftwerk_specs::membership::VoterChange;
    use kraftwerk_specs::types::NodeId;
    let changes: Vec<VoterChange> = add
        .iter()
        .map(|&n| VoterChange::Add(NodeId(n)))
        .chain(remove.iter().map(|&n| VoterChange::Remove(NodeId(n))))
        .collect();
    if changes.is_empty() {
        return Err(usage("reconfig needs --add N or --remove N"));
    }
    let mut c = target.client()?;
    block_on(async move { c.change_membership(changes).await })?.map_err(failed)?;
    println!("OK");
    Ok(())
}

fn run(cmd: Cmd) -> Result<(), Failure> {
    match cmd {
        Cmd::Serve {
            id,
            peers,
            client_addr,
            client_addrs,
            data_dir,
            protocol,
            observer,
            mut observers,
            cluster_id,
            tls_cert,
            tls_key,
            tls_ca,
            tls_require_client_cert,
        } => {
            let tls = node_tls(tls_cert, tls_key, tls_ca, tls_require_client_cert)?;
            if !peers.contains_key(&id) {
                return Err(usage(format!("--peers has no address for --id {id}")));
            }
            let mut clients = client_addrs.unwrap_or_default();
            match client_addr {
                Some(a) => {
                    clients.insert(id, a);
                }
                None if clients.contains_key(&id) => {}
                None => {
                    return Err(usage(
                        "no client address: give --client-addr or --client-addrs",
                    ))
                }
            }
            if observer && !observers.contains(&id) {
                observers.push(id);
            }
            server::serve(ServeConfig {
                id,
                protocol,
                peers,
                clients,
                observers,
                data_dir,
                cluster_id,
                tls,
            })
            .map_err(usage)
        }
        Cmd::Put { key, value, target } => one(
            &target,
            Command::Put {
                key: key.into_bytes(),
                value: value.into_bytes(),
            },
        ),
        Cmd::Get { key, target } => one(
            &target,
            Command::Get {
                key: key.into_bytes(),
            },
        ),
        Cmd::Delete { key, target } => one(
            &target,
            Command::Delete {
                key: key.into_bytes(),
            },
        ),
        Cmd::Cas {
            key,
            expected,
            new,
            target,
        } => one(
            &target,
            Command::Cas {
                key: key.into_bytes(),
                expected: expected.map(String::into_bytes),
                new: new.map(String::into_bytes),
            },
        ),
        Cmd::Status { target } => status(&target),
        Cmd::Reconfig {
            add,
            remove,
            target,
        } => reconfig(&target, &add, &remove),
        Cmd::Bench {
            clients,
            requests,
            value_size,
            target,
        } => bench(&target, clients, requests, value_size),
        Cmd::Cluster {
            action,
            dir,
            protocol,
            node,
            peer_port,
            client_port,
        } => {
            if node.is_some() && !matches!(action, ClusterAction::Start) {
                return Err(usage("--node goes with cluster start"));
            }
            let layout = cluster::Layout::new(&dir, peer_port, client_port)?;
            match action {
                ClusterAction::Start => cluster::start(&layout, node, protocol_name(protocol)),
                ClusterAction::Stop => cluster::stop(&layout),
                ClusterAction::Status => status(&Target {
                    client_addrs: parse_map(&layout.clients()).map_err(failed)?,
                    cluster_id: 0,
                    tls_ca: None,
                    tls_cert: None,
                    tls_key: None,
                    timeout: 20,
                }),
            }
        }
    }
}

fn status(target: &Target) -> Result<(), Failure> {
    let cluster = target.cluster_id;
    let addrs = target.client_addrs.clone();
    let tls = target.tls()?;
    let mut reachable = 0;
    block_on(async {
        for (id, addr) in &addrs {
            let asked = client::status_tls(addr, cluster, tls.clone());
            match tokio::time::timeout(Duration::from_secs(3), asked).await {
                Ok(Ok(s)) => {
                    reachable += 1;
                    println!(
                        "n{} role={} term={} commit={} log_end={} leader={} bad_frames={}",
                        s.id,
                        s.role,
                        s.term,
                        s.commit,
                        s.log_end,
                        s.leader.map_or("none".into(), |l| l.to_string()),
                        s.bad_frames
                    );
                }
                Ok(Err(e)) => println!("n{id} unreachable: {e}"),
                Err(_) => println!("n{id} unreachable: timed out"),
            }
        }
    })?;
    if reachable == 0 {
        return Err(failed("no node reachable"));
    }
    Ok(())
}

fn bench(
    target: &Target,
    clients: usize,
    requests: usize,
    value_size: usize,
) -> Result<(), Failure> {
    if clients == 0 || requests == 0 {
        return Err(usage("--clients and --requests must be positive"));
    }
    let template = target.client()?;
    let (lat, elapsed) = block_on(async move {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let n = requests / clients + usize::from(c < requests % clients);
            let mut cl = template.fresh();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(n);
                for i in 0..n {
                    let t = Instant::now();
                    let cmd = Command::Put {
                        key: format!("bench-{c}-{i}").into_bytes(),
                        value: vec![b'x'; value_size],
                    };
                    cl.run(cmd).await?;
                    lat.push(t.elapsed());
                }
                Ok::<_, String>(lat)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.map_err(|e| e.to_string())??);
        }
        Ok::<_, String>((all, start.elapsed()))
    })?
    .map_err(failed)?;
    let mut lat = lat;
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "clients={clients} requests={} value_size={value_size} puts/s={:.0} p50_ms={:.2} p99_ms={:.2}",
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    Ok(())
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Raft => "raft",
        Protocol::Kraft => "kraft",
    }
}
