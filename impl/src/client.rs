//! The client library: finds the leader, follows hints, and retries a
//! command with the same [`RequestId`] until it is answered (the core
//! de-duplicates by request id, so a retried put is applied once).

use crate::codec;
use crate::core::Status;
use crate::kv::{Command, Outcome};
use crate::proto::{ClientMsg, ClientResp};
use kraftwerk_specs::types::RequestId;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// How long one attempt waits for an answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to a cluster.
pub struct Client {
    addrs: Vec<String>,
    cluster: u64,
    /// Index into `addrs` of the node tried next.
    current: usize,
    conn: Option<TcpStream>,
    client: u64,
    seq: u64,
    /// How long a command is retried before giving up.
    pub deadline: Duration,
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
            client,
            seq: 0,
            deadline: Duration::from_secs(20),
            buf: Vec::new(),
        }
    }

    async fn attempt(&mut self, msg: &ClientMsg) -> Result<ClientResp, String> {
        if self.conn.is_none() {
            let addr = &self.addrs[self.current];
            let s = timeout(ATTEMPT_TIMEOUT, TcpStream::connect(addr))
                .await
                .map_err(|_| format!("connecting to {addr} timed out"))?
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let _ = s.set_nodelay(true);
            self.conn = Some(s);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        let cluster = self.cluster;
        let r = timeout(ATTEMPT_TIMEOUT, async {
            codec::write_frame(conn, cluster, msg)
                .await
                .map_err(|e| e.to_string())?;
            codec::read_frame::<_, ClientResp>(conn, cluster, &mut self.buf)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|_| "timed out".to_string())
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
        while start.elapsed() < self.deadline {
            match self.attempt(&msg).await {
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
                Err(e) => {
                    last_err = e;
                    self.next_node();
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        Err(format!("gave up after {:?}: {last_err}", self.deadline))
    }
}

/// Asks the node at `addr` for its status.
pub async fn status(addr: &str, cluster: u64) -> Result<Status, String> {
    let mut c = Client::new(vec![addr.to_string()], cluster);
    match c.attempt(&ClientMsg::Status).await? {
        ClientResp::Status(s) => Ok(s),
        other => Err(format!("unexpected answer {other:?}")),
    }
}
