//! The runtime of one node: a tokio task owns the core and the storage;
//! sockets and timers feed it inputs; it carries out the actions.
//!
//! One turn of the loop (group commit): wait for one event, drain every
//! other pending event, step them all as one batch ([`AnyNode::step_batch`]:
//! the core's batching sends a peer one AppendEntries for a burst of
//! proposals), carry out the actions in order — hard state is replaced
//! durably at once, log appends are buffered — then fsync the log once, and
//! only then send the messages and answer the clients. So nothing leaves the node before what it
//! depends on is on disk.

use crate::core::{AnyNode, Protocol};
use crate::kv::{Command, Kv, Outcome};
use crate::proto::ClientResp;
use crate::storage::Storage;
use crate::transport::{accept_clients, accept_peers, send_to_peer};
use kraftwerk_specs::log::Log;
use kraftwerk_specs::message::Message;
use kraftwerk_specs::node::{apply_durable, Durable};
use kraftwerk_specs::node::{Action, Input, Timer};
use kraftwerk_specs::types::{NodeId, RequestId};
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Everything `serve` needs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// This node.
    pub id: u32,
    /// The protocol.
    pub protocol: Protocol,
    /// Every node's peer address (this one included).
    pub peers: BTreeMap<u32, String>,
    /// Every node's client address, for leader hints.
    pub clients: BTreeMap<u32, String>,
    /// KRaft observers (every other node votes).
    pub observers: Vec<u32>,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Frames of another cluster id are dropped.
    pub cluster_id: u64,
    /// TLS on both ports (plaintext when `None`).
    pub tls: Option<crate::tls::NodeTlsOptions>,
}

/// Timer durations in milliseconds.
const ELECTION_MS: (u64, u64) = (300, 600);
const HEARTBEAT_MS: u64 = 50;
const FETCH_MS: u64 = 2;
const CHECK_QUORUM_MS: u64 = 1000;
/// Bounded queues: events waiting for the node (readers then wait, which
/// pushes back on the sockets), and messages waiting for one peer (beyond
/// it they are dropped).
const EVENT_QUEUE: usize = 16 * 1024;
const PEER_QUEUE: usize = 16 * 1024;
/// Above this many waiting client requests, those whose client gave up are
/// forgotten.
const PENDING_SWEEP: usize = 4096;
/// At most this many events are stepped in one turn.
const BATCH_MAX: usize = 4096;

/// What the connection tasks hand to the runtime.
pub(crate) enum Event {
    Peer(NodeId, Message),
    Client(RequestId, Command, oneshot::Sender<ClientResp>),
    Admin(
        RequestId,
        Vec<kraftwerk_specs::membership::VoterChange>,
        oneshot::Sender<ClientResp>,
    ),
    Status(oneshot::Sender<ClientResp>),
}

pub(crate) fn log_line(id: u32, text: impl std::fmt::Display) {
    eprintln!("kraftwerk-node n{id}: {text}");
}

/// Opens the storage, binds both listeners, and runs the node until the
/// process is killed. Returns an error (for exit code 2) when it cannot
/// start.
pub fn serve(cfg: ServeConfig) -> Result<(), String> {
    let me = cfg.id;
    let peer_addr = cfg
        .peers
        .get(&me)
        .ok_or_else(|| format!("--peers has no address for --id {me}"))?
        .clone();
    if cfg.observers.len() >= cfg.peers.len() {
        return Err("every node is an observer".into());
    }
    let tls = match &cfg.tls {
        Some(opts) => Some(crate::tls::NodeTls::load(opts, &peer_addr)?),
        None => None,
    };
    let (storage, recovered) = Storage::open(&cfg.data_dir)?;
    for r in &recovered.repairs {
        log_line(me, r);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    rt.block_on(async move {
        let peer_listener = TcpListener::bind(&peer_addr)
            .await
            .map_err(|e| format!("cannot listen on {peer_addr}: {e}"))?;
        let client_listener = TcpListener::bind(&cfg_client_addr(&cfg)?)
            .await
            .map_err(|e| {
                format!(
                    "cannot listen on {}: {e}",
                    cfg_client_addr(&cfg).unwrap_or_default()
                )
            })?;
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let bad = Arc::new(AtomicU64::new(0));
        let handshakes = Arc::new(crate::tls::HandshakeLog::new(me));
        tokio::spawn(accept_peers(
            me,
            cfg.clone(),
            peer_listener,
            tls.as_ref().map(|t| t.peer_acceptor.clone()),
            handshakes.clone(),
            tx.clone(),
            bad.clone(),
        ));
        tokio::spawn(accept_clients(
            me,
            cfg.cluster_id,
            client_listener,
            tls.as_ref().map(|t| t.client_acceptor.clone()),
            handshakes,
            tx,
            bad.clone(),
        ));
        let mut out_peers = HashMap::new();
        for (&id, addr) in &cfg.peers {
            if id != me {
                let (ptx, prx) = mpsc::channel(PEER_QUEUE);
                tokio::spawn(send_to_peer(
                    me,
                    cfg.cluster_id,
                    addr.clone(),
                    tls.as_ref().map(|t| t.peer_connector.clone()),
                    prx,
                ));
                out_peers.insert(NodeId(id), ptx);
            }
        }
        let all: Vec<NodeId> = cfg.peers.keys().map(|&i| NodeId(i)).collect();
        let observers: Vec<NodeId> = cfg.observers.iter().map(|&i| NodeId(i)).collect();
        let voters = crate::core::voters_of(&all, &observers);
        let (node, first) = crate::core::restore(
            cfg.protocol,
            NodeId(me),
            &voters,
            &observers,
            Durable {
                hard: recovered.hard,
                log: Log::from_entries(recovered.entries),
            },
        );
        log_line(me, format!("started, {:?}", crate::core::status(&node)));
        let mut rt = Runtime {
            cfg,
            node,
            storage,
            kv: Kv::default(),
            deadlines: BTreeMap::new(),
            pending: HashMap::new(),
            admin: std::collections::HashSet::new(),
            peers: out_peers,
            bad,
        };
        rt.execute(first)?;
        rt.run(rx).await
    })
}

fn cfg_client_addr(cfg: &ServeConfig) -> Result<String, String> {
    cfg.clients
        .get(&cfg.id)
        .cloned()
        .ok_or_else(|| format!("no client address for node {}", cfg.id))
}

struct Runtime {
    cfg: ServeConfig,
    node: AnyNode,
    storage: Storage,
    kv: Kv,
    deadlines: BTreeMap<Timer, Instant>,
    pending: HashMap<RequestId, Vec<oneshot::Sender<ClientResp>>>,
    /// Membership-change requests waiting for their final configuration.
    admin: std::collections::HashSet<RequestId>,
    peers: HashMap<NodeId, mpsc::Sender<Message>>,
    /// Bad frames dropped by the connection tasks.
    bad: Arc<AtomicU64>,
}

impl Runtime {
    async fn run(&mut self, mut rx: mpsc::Receiver<Event>) -> Result<(), String> {
        loop {
            let next = self.deadlines.values().min().copied();
            let first = tokio::select! {
                ev = rx.recv() => ev,
                _ = sleep_until(next) => None,
            };
            let mut inputs = Vec::new();
            let mut statuses = Vec::new();
            if let Some(ev) = first {
                self.admit(ev, &mut inputs, &mut statuses);
            }
            while inputs.len() < BATCH_MAX {
                match rx.try_recv() {
                    Ok(ev) => self.admit(ev, &mut inputs, &mut statuses),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            let fired: Vec<Timer> = self
                .deadlines
                .iter()
                .filter(|(_, &d)| d <= now)
                .map(|(&t, _)| t)
                .collect();
            for t in fired {
                self.deadlines.remove(&t);
                inputs.push(Input::Timeout(t));
            }
            let actions = self.node.step_batch(inputs);
            debug_assert_eq!(self.node.validate(), Ok(()));
            self.execute(actions)?;
            for s in statuses {
                let mut status = crate::core::status(&self.node);
                status.bad_frames = self.bad.load(Ordering::Relaxed);
                status.applied = self.kv.applied();
                status.digest = self.kv.digest();
                let _ = s.send(ClientResp::Status(status));
            }
        }
    }

    /// Turns an event into an input (or answers it at once).
    fn admit(
        &mut self,
        ev: Event,
        inputs: &mut Vec<Input>,
        statuses: &mut Vec<oneshot::Sender<ClientResp>>,
    ) {
        match ev {
            Event::Peer(from, msg) => inputs.push(Input::Receive { from, msg }),
            Event::Status(tx) => statuses.push(tx),
            Event::Admin(request, changes, tx) => {
                self.admin.insert(request);
                self.pending.entry(request).or_default().push(tx);
                inputs.push(Input::ChangeMembership { request, changes });
            }
            Event::Client(request, cmd, tx) => match bincode::serialize(&cmd) {
                Ok(data) => {
                    self.pending.entry(request).or_default().push(tx);
                    inputs.push(Input::Propose { request, data });
                }
                Err(e) => {
                    let _ = tx.send(ClientResp::Error(e.to_string()));
                }
            },
        }
    }

    /// The answer to a request this node will not answer itself, with the
    /// core's leader hint.
    fn not_leader(&self, leader: Option<NodeId>) -> ClientResp {
        let leader = leader.map(|l| l.0);
        ClientResp::NotLeader {
            leader,
            addr: leader.and_then(|l| self.cfg.clients.get(&l).cloned()),
        }
    }

    /// Carries out `actions` in order; fsyncs the log once before sending.
    fn execute(&mut self, actions: Vec<Action>) -> Result<(), String> {
        let mut sends: Vec<(NodeId, Message)> = Vec::new();
        let mut replies = Vec::new();
        let mut refusals = Vec::new();
        let mut not_leader = Vec::new();
        for action in actions {
            if persist_action(&mut self.storage, &action)? {
                continue;
            }
            match action {
                Action::PersistHardState(_) | Action::TruncateLog { .. } | Action::AppendLog(_) => {
                    unreachable!("carried out above")
                }
                Action::NotLeader { request, leader } => not_leader.push((request, leader)),
                Action::Send { to, msg } => sends.push((to, msg)),
                Action::SetTimer(t) => {
                    self.deadlines.insert(t, Instant::now() + timer_duration(t));
                }
                Action::CancelTimer(t) => {
                    self.deadlines.remove(&t);
                }
                Action::Apply { entry, index } => self.kv.apply_at(index.0, &entry),
                Action::Reply { request, .. } if self.admin.remove(&request) => {
                    replies.push((request, Some(Outcome::Reconfigured)))
                }
                Action::Reply { request, .. } => replies.push((request, self.kv.outcome(request))),
                Action::Refuse { request, reason } => refusals.push((request, reason)),
            }
        }
        self.storage.sync()?;
        for (to, msg) in sends {
            if let Some(p) = self.peers.get(&to) {
                // A full queue drops the message, as a congested network would.
                let _ = p.try_send(msg);
            }
        }
        for (request, outcome) in replies {
            for tx in self.pending.remove(&request).unwrap_or_default() {
                let resp = match &outcome {
                    Some(o) => ClientResp::Done(o.clone()),
                    None => ClientResp::Error(format!("result of {request} is no longer kept")),
                };
                let _ = tx.send(resp);
            }
        }
        for (request, reason) in refusals {
            for tx in self.pending.remove(&request).unwrap_or_default() {
                let _ = tx.send(ClientResp::Refused(reason.to_string()));
            }
        }
        if self.pending.len() > PENDING_SWEEP {
            // Clients that gave up (their request never committed here).
            self.pending.retain(|_, txs| {
                txs.retain(|tx| !tx.is_closed());
                !txs.is_empty()
            });
        }
        for (request, leader) in not_leader {
            let resp = self.not_leader(leader);
            let txs: Vec<_> = match request {
                Some(r) => {
                    self.admin.remove(&r);
                    self.pending.remove(&r).unwrap_or_default()
                }
                None => {
                    self.admin.clear();
                    self.pending.drain().flat_map(|(_, txs)| txs).collect()
                }
            };
            for tx in txs {
                let _ = tx.send(resp.clone());
            }
        }
        Ok(())
    }
}

/// Carries out the durable part of `action` on `storage` by the specs'
/// durable-state rule ([`apply_durable`]): the hard state is replaced
/// durably at once, log changes are buffered until [`Storage::sync`].
/// Returns whether `action` was a persistence action. The runtime's only
/// path to the disk (the replay test drives it too).
pub fn persist_action(storage: &mut Storage, action: &Action) -> Result<bool, String> {
    apply_durable(storage, action)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn timer_duration(t: Timer) -> Duration {
    Duration::from_millis(match t {
        Timer::Election => rand::rng().random_range(ELECTION_MS.0..ELECTION_MS.1),
        Timer::Heartbeat => HEARTBEAT_MS,
        Timer::Fetch => FETCH_MS,
        Timer::CheckQuorum => CHECK_QUORUM_MS,
    })
}
