//! The client library: finds the leader, follows hints, and retries a
//! command with the same [`RequestId`] until it is answered (the core
//! de-duplicates by request id, so a retried put is applied once).
//! With [`ClientTls`] every connection is TLS, the node's certificate
//! checked against the CA and the host dialed; a TLS refusal that every
//! node gives (a certificate refused either way) ends the request at once.

use crate::codec;
use crate::core::Status;
use crate::kv::{Command, Outcome};
use crate::proto::{ClientMsg, ClientResp};
use crate::tls::{self, BoxStream, ClientTls};
use kraftwerk_specs::types::RequestId;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// How long one attempt waits for an answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to a cluster.
pub struct Client {
    addrs: Vec<String>,
    cluster: u64,
    /// Index into `addrs` of the node tried next.
    current: usize,
    conn: Option<BoxStream>,
    tls: Option<ClientTls>,
    client: u64,
    seq: u64,
    /// How long a command is retried before giving up.
    pub deadline: Duration,
    /// Give up before the deadline once every node refused the connection
    /// (nothing listens at any address) and this long has passed since the
    /// first attempt; `None` retries until the deadline (a cluster that is
    /// still starting binds its ports late).
    pub refused_grace: Option<Duration>,
    buf: Vec<u8>,
}

impl Client {
    /// A client of the nodes at `addrs` (client addresses).
    pub fn new(addrs: Vec<String>, cluster: u64) -> Client {
        let client = rand::random::<u64>() >> 1;
        Client {
            addrs,
            cluster,
            current: 0,
            conn: None,
            tls: None,
            client,
            seq: 0,
            deadline: Duration::from_secs(20),
            refused_grace: None,
            buf: Vec::new(),
        }
    }

    /// Another client (a new client id) of the same nodes, with the same
    /// TLS settings and deadline.
    pub fn fresh(&self) -> Client {
        let mut c = Client::new(self.addrs.clone(), self.cluster).with_tls(self.tls.clone());
        c.deadline = self.deadline;
        c.refused_grace = self.refused_grace;
        c
    }

    /// Talks TLS (checking the nodes' certificates with `tls`).
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Client {
        self.tls = tls;
        self.conn = None;
        self
    }

    async fn attempt(&mut self, msg: &ClientMsg) -> Result<ClientResp, Failed> {
        if self.conn.is_none() {
            let addr = &self.addrs[self.current];
            let connector = self.tls.as_ref().map(|t| t.connector());
            let s = tls::connect(addr, connector, ATTEMPT_TIMEOUT)
                .await
                .map_err(|e| Failed::of(&e, format!("cannot connect to {addr}: {e}")))?;
            self.conn = Some(s);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Failed::retry("no connection".into()));
        };
        let cluster = self.cluster;
        let r = timeout(ATTEMPT_TIMEOUT, async {
            codec::write_frame(conn, cluster, msg)
                .await
                .map_err(|e| Failed::of(&e, e.to_string()))?;
            codec::read_frame::<_, ClientResp>(conn, cluster, &mut self.buf)
                .await
                .map_err(|e| match &e {
                    codec::FrameError::Io(io) => Failed::of(io, e.to_string()),
                    _ => Failed::retry(e.to_string()),
                })
        })
        .await
        .map_err(|_| Failed::retry("timed out".to_string()))
        .and_then(|r| r);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn next_node(&mut self) {
        self.conn = None;
        self.current = (self.current + 1) % self.addrs.len();
    }

    /// Runs `cmd` on the cluster, retrying with the same request id.
    pub async fn run(&mut self, cmd: Command) -> Result<Outcome, String> {
        self.request(|request| ClientMsg::Command { request, cmd })
            .await
    }

    /// Asks the cluster to change its voters (joint consensus), retrying
    /// with the same request id; answered once the final configuration
    /// commits.
    pub async fn change_membership(
        &mut self,
        changes: Vec<kraftwerk_specs::membership::VoterChange>,
    ) -> Result<Outcome, String> {
        self.request(|request| ClientMsg::ChangeMembership { request, changes })
            .await
    }

    /// Sends the request `make` builds with a fresh id until a leader
    /// answers it, following leader hints.
    async fn request(
        &mut self,
        make: impl FnOnce(RequestId) -> ClientMsg,
    ) -> Result<Outcome, String> {
        self.seq += 1;
        let msg = make(RequestId {
            client: self.client,
            seq: self.seq,
        });
        let start = Instant::now();
        let mut last_err = String::from("no node answered");
        let mut backoff = Duration::from_millis(10);
        // Nodes that refused us at the TLS level, for good.
        let mut refused_tls = BTreeSet::new();
        // Nodes whose last attempt found nothing listening.
        let mut refused = BTreeSet::new();
        while start.elapsed() < self.deadline {
            let result = self.attempt(&msg).await;
            let here = self.addrs[self.current].clone();
            match &result {
                Err(f) if f.refused => {
                    refused.insert(here);
                }
                _ => {
                    refused.remove(&here);
                }
            }
            if let Some(grace) = self.refused_grace {
                if start.elapsed() >= grace && self.addrs.iter().all(|a| refused.contains(a)) {
                    return Err(format!(
                        "no node answers at any address (connection refused at {}); \
                         is the cluster running?",
                        self.addrs.join(", ")
                    ));
                }
            }
            match result {
                Ok(ClientResp::Done(o)) => return Ok(o),
                Ok(ClientResp::NotLeader { leader, addr }) => {
                    last_err = format!("not leader (hint: {leader:?} at {addr:?})");
                    let hinted = addr.map(|a| match self.addrs.iter().position(|x| *x == a) {
                        Some(i) => i,
                        None => {
                            self.addrs.push(a);
                            self.addrs.len() - 1
                        }
                    });
                    match hinted {
                        Some(i) if i != self.current => {
                            self.conn = None;
                            self.current = i;
                            continue;
                        }
                        _ => self.next_node(),
                    }
                }
                Ok(ClientResp::Refused(why)) => return Err(format!("refused: {why}")),
                Ok(ClientResp::Error(e)) => {
                    last_err = e;
                    self.next_node();
                }
                Ok(ClientResp::Status(_)) => {
                    last_err = "unexpected status answer".into();
                    self.next_node();
                }
                Err(Failed { msg, permanent, .. }) => {
                    if permanent {
                        refused_tls.insert(self.addrs[self.current].clone());
                        if self.addrs.iter().all(|a| refused_tls.contains(a)) {
                            return Err(msg);
                        }
                    }
                    last_err = msg;
                    self.next_node();
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        Err(format!("gave up after {:?}: {last_err}", self.deadline))
    }
}

/// Why an attempt failed; `permanent` when it was a TLS refusal that
/// retrying the same node will not cure, `refused` when nothing listens
/// at the address.
struct Failed {
    msg: String,
    permanent: bool,
    refused: bool,
}

impl Failed {
    fn retry(msg: String) -> Failed {
        Failed {
            msg,
            permanent: false,
            refused: false,
        }
    }

    /// `msg`, or the TLS explanation when `e` is a permanent TLS failure.
    fn of(e: &std::io::Error, msg: String) -> Failed {
        match tls::permanent_failure(e) {
            Some(why) => Failed {
                msg: why,
                permanent: true,
                refused: false,
            },
            None => Failed {
                refused: e.kind() == std::io::ErrorKind::ConnectionRefused,
                ..Failed::retry(msg)
            },
        }
    }
}

/// Asks the node at `addr` for its status.
pub async fn status(addr: &str, cluster: u64) -> Result<Status, String> {
    status_tls(addr, cluster, None).await
}

/// Asks the node at `addr` for its status, over TLS when `tls` is given.
pub async fn status_tls(
    addr: &str,
    cluster: u64,
    tls: Option<ClientTls>,
) -> Result<Status, String> {
    let mut c = Client::new(vec![addr.to_string()], cluster).with_tls(tls);
    match c.attempt(&ClientMsg::Status).await.map_err(|f| f.msg)? {
        ClientResp::Status(s) => Ok(s),
        other => Err(format!("unexpected answer {other:?}")),
    }
}
