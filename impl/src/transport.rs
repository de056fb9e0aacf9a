//! The network side of a node: one task per peer keeps an outgoing
//! connection (reconnecting with backoff); one task per incoming connection
//! decodes peer or client frames into events for the runtime. Bad frames
//! are counted, logged once per connection and dropped. With TLS
//! ([`crate::tls`]) every connection is a TLS stream carrying the same
//! frames; failed handshakes are logged at most once per address.

use crate::codec::{self, FrameError};
use crate::proto::{ClientMsg, ClientResp, PeerFrame};
use crate::server::{log_line, Event, ServeConfig};
use crate::tls::{self, HandshakeLog};
use kraftwerk_specs::message::Message;
use kraftwerk_specs::types::NodeId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long dialing a peer (TLS handshake included) may take.
const PEER_CONNECT_TIMEOUT: Duration = tls::HANDSHAKE_TIMEOUT;
/// A connection that breaks sooner than this after it was made does not
/// reset the reconnection backoff (a peer that refuses our certificate
/// closes each connection at once).
const STABLE_CONNECTION: Duration = Duration::from_secs(1);

/// Keeps a connection to one peer, sending what the core addresses to it;
/// reconnects with exponential backoff (messages meanwhile are dropped,
/// which the protocols tolerate).
pub(crate) async fn send_to_peer(
    me: u32,
    cluster: u64,
    addr: String,
    tls: Option<TlsConnector>,
    mut rx: mpsc::Receiver<Message>,
) {
    let mut backoff = Duration::from_millis(20);
    let mut buf = Vec::new();
    // The last connection failure logged, so that each is logged once.
    let mut logged: Option<String> = None;
    loop {
        let mut stream = match tls::connect(&addr, tls.as_ref(), PEER_CONNECT_TIMEOUT).await {
            Ok(s) => s,
            Err(e) => {
                // TLS refusals are worth a line (once); a peer that is not
                // up yet is not.
                if tls::is_tls_error(&e) {
                    let e = e.to_string();
                    if logged.as_ref() != Some(&e) {
                        log_line(me, format!("cannot connect to peer {addr}: {e}"));
                        logged = Some(e);
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                while rx.try_recv().is_ok() {}
                continue;
            }
        };
        let connected = tokio::time::Instant::now();
        loop {
            let Some(msg) = rx.recv().await else { return };
            buf.clear();
            let mut next = Some(msg);
            while let Some(msg) = next {
                if let Err(e) = codec::encode(cluster, &PeerFrame { from: me, msg }, &mut buf) {
                    log_line(me, format!("not sending to {addr}: {e}"));
                }
                next = if buf.len() < (1 << 20) {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            let written = async {
                stream.write_all(&buf).await?;
                stream.flush().await
            };
            if written.await.is_err() {
                break;
            }
        }
        if connected.elapsed() < STABLE_CONNECTION {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        } else {
            backoff = Duration::from_millis(20);
            logged = None;
        }
    }
}

fn report_bad(
    me: u32,
    what: &str,
    peer: &std::net::SocketAddr,
    e: &FrameError,
    bad: &AtomicU64,
    logged: &mut bool,
) {
    let total = bad.fetch_add(1, Ordering::Relaxed) + 1;
    if !*logged {
        *logged = true;
        log_line(
            me,
            format!("dropped bad {what} frame from {peer} ({e}); {total} bad frames so far"),
        );
    }
}

pub(crate) async fn accept_peers(
    me: u32,
    cfg: ServeConfig,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handshakes: Arc<HandshakeLog>,
    tx: mpsc::Sender<Event>,
    bad: Arc<AtomicU64>,
) {
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        let bad = bad.clone();
        let cluster = cfg.cluster_id;
        let known: Vec<u32> = cfg.peers.keys().copied().collect();
        let tls = tls.clone();
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            let stream = match tls::accept(stream, tls.as_ref()).await {
                Ok(s) => s,
                Err(e) => {
                    handshakes.failed("peer", addr, &e);
                    return;
                }
            };
            let mut logged = false;
            let mut r = tokio::io::BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                match codec::read_frame::<_, PeerFrame>(&mut r, cluster, &mut buf).await {
                    Ok(f) if known.contains(&f.from) && f.from != me => {
                        if tx.send(Event::Peer(NodeId(f.from), f.msg)).await.is_err() {
                            return;
                        }
                    }
                    Ok(f) => {
                        let e = FrameError::Malformed(format!("unknown sender {}", f.from));
                        report_bad(me, "peer", &addr, &e, &bad, &mut logged);
                    }
                    Err(FrameError::Io(_)) => return,
                    Err(e) => {
                        report_bad(me, "peer", &addr, &e, &bad, &mut logged);
                        if !e.recoverable() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

pub(crate) async fn accept_clients(
    me: u32,
    cluster: u64,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handshakes: Arc<HandshakeLog>,
    tx: mpsc::Sender<Event>,
    bad: Arc<AtomicU64>,
) {
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        let bad = bad.clone();
        let tls = tls.clone();
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            let mut stream = match tls::accept(stream, tls.as_ref()).await {
                Ok(s) => s,
                Err(e) => {
                    handshakes.failed("client", addr, &e);
                    return;
                }
            };
            let mut logged = false;
            let mut buf = Vec::new();
            loop {
                let resp = match codec::read_frame::<_, ClientMsg>(&mut stream, cluster, &mut buf)
                    .await
                {
                    Ok(m) => {
                        let (otx, orx) = oneshot::channel();
                        let ev = match m {
                            ClientMsg::Command { request, cmd } => Event::Client(request, cmd, otx),
                            ClientMsg::ChangeMembership { request, changes } => {
                                Event::Admin(request, changes, otx)
                            }
                            ClientMsg::Status => Event::Status(otx),
                        };
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                        orx.await
                            .unwrap_or(ClientResp::Error("node stopping".into()))
                    }
                    Err(FrameError::Io(_)) => return,
                    Err(e) => {
                        report_bad(me, "client", &addr, &e, &bad, &mut logged);
                        let resp = ClientResp::Error(e.to_string());
                        if !e.recoverable() {
                            let _ = codec::write_frame(&mut stream, cluster, &resp).await;
                            return;
                        }
                        resp
                    }
                };
                if codec::write_frame(&mut stream, cluster, &resp)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}
