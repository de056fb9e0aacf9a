//! TLS 1.3 for both ports (rustls with the `ring` provider).
//!
//! With `--tls-cert/--tls-key/--tls-ca` a node's peer links are mutually
//! authenticated: each end presents its certificate, signed by the cluster
//! CA, and verifies the other's (the dialing end also checks the name in
//! the certificate against the host it dialed). The client port is
//! server-authenticated, and with `--tls-require-client-cert` clients must
//! present a certificate signed by the CA too. Inside TLS the frames are
//! exactly those of the plaintext protocol ([`crate::codec`]).
//!
//! Accept-side handshakes have a deadline ([`HANDSHAKE_TIMEOUT`]) so that a
//! silent connection cannot hold a task forever; their failures are logged
//! at most once per port and remote address per [`HANDSHAKE_LOG_INTERVAL`].

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long a TLS handshake may take, on either side.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A failed handshake from one address is logged at most this often.
pub const HANDSHAKE_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Addresses remembered for rate-limiting the log (then it starts over).
const HANDSHAKE_LOG_ADDRS_MAX: usize = 1024;

/// A byte stream a frame can travel on: plain TCP or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection, plaintext or TLS.
pub type BoxStream = Box<dyn Stream>;

/// The PEM files of a node or client identity and of the CA.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// This end's certificate chain (leaf first).
    pub cert: PathBuf,
    /// This end's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The cluster CA's certificate(s): the only trust anchors.
    pub ca: PathBuf,
}

/// A node's TLS settings, as given on the command line.
#[derive(Clone, Debug)]
pub struct NodeTlsOptions {
    /// Certificate, key and CA.
    pub files: TlsFiles,
    /// Clients must present a certificate signed by the CA.
    pub require_client_cert: bool,
}

/// A node's TLS: one acceptor per port and the connector for its peers.
#[derive(Clone)]
pub struct NodeTls {
    /// Peer port: the dialing node must present a CA-signed certificate.
    pub peer_acceptor: TlsAcceptor,
    /// Client port: server-authenticated, client certificates if required.
    pub client_acceptor: TlsAcceptor,
    /// Dials peers, presenting this node's certificate.
    pub peer_connector: TlsConnector,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let what = |e: &dyn std::fmt::Display| {
        format!("cannot read certificates from {}: {e}", path.display())
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| what(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| what(&e))?;
    if certs.is_empty() {
        return Err(what(&"no PEM certificate found"));
    }
    for c in &certs {
        rustls::server::ParsedCertificate::try_from(c).map_err(|e| what(&e))?;
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let key = PrivateKeyDer::from_pem_file(path).map_err(|e| {
        let e = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key found".to_string(),
            e => e.to_string(),
        };
        format!("cannot read a private key from {}: {e}", path.display())
    })?;
    provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| format!("unusable private key in {}: {e}", path.display()))?;
    Ok(key)
}

fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots
            .add(c)
            .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
    }
    Ok(Arc::new(roots))
}

fn server_config(
    roots: &Arc<RootCertStore>,
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    files: &TlsFiles,
    require_client_cert: bool,
) -> Result<Arc<ServerConfig>, String> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?;
    let builder = if require_client_cert {
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| format!("CA {}: {e}", files.ca.display()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(chain.to_vec(), key.clone_key())
        .map_err(|e| {
            format!(
                "certificate {} with key {}: {e}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    Ok(Arc::new(config))
}

fn client_config(
    roots: &Arc<RootCertStore>,
    identity: Option<(
        &[CertificateDer<'static>],
        &PrivateKeyDer<'static>,
        &TlsFiles,
    )>,
) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots.clone());
    let config = match identity {
        Some((chain, key, files)) => builder
            .with_client_auth_cert(chain.to_vec(), key.clone_key())
            .map_err(|e| {
                format!(
                    "certificate {} with key {}: {e}",
                    files.cert.display(),
                    files.key.display()
                )
            })?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The host part of `HOST:PORT` (`[v6]:PORT` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host_of(addr).to_string())
        .map_err(|_| format!("{addr:?} has no valid host name for TLS"))
}

impl NodeTls {
    /// Loads and checks the files. `peer_addr` is the address the other
    /// nodes dial: this node's certificate must be valid for its host
    /// under the CA, or no peer would accept it.
    pub fn load(opts: &NodeTlsOptions, peer_addr: &str) -> Result<NodeTls, String> {
        let files = &opts.files;
        let roots = load_roots(&files.ca)?;
        let chain = load_certs(&files.cert)?;
        let key = load_key(&files.key)?;
        let verifier = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| format!("CA {}: {e}", files.ca.display()))?;
        verifier
            .verify_server_cert(
                &chain[0],
                &chain[1..],
                &server_name(peer_addr)?,
                &[],
                UnixTime::now(),
            )
            .map_err(|e| {
                format!(
                    "certificate {} is not valid for peer address {peer_addr} under CA {}: {e}",
                    files.cert.display(),
                    files.ca.display()
                )
            })?;
        Ok(NodeTls {
            peer_acceptor: TlsAcceptor::from(server_config(&roots, &chain, &key, files, true)?),
            client_acceptor: TlsAcceptor::from(server_config(
                &roots,
                &chain,
                &key,
                files,
                opts.require_client_cert,
            )?),
            peer_connector: TlsConnector::from(client_config(&roots, Some((&chain, &key, files)))?),
        })
    }
}

/// A client's TLS: the CA to verify nodes with and, optionally, the
/// client's own certificate.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
}

impl ClientTls {
    /// Loads the CA (`ca`) and, when given, the client identity
    /// (`cert`, `key`).
    pub fn load(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<ClientTls, String> {
        let roots = load_roots(ca)?;
        let config = match identity {
            Some((cert, key)) => {
                let files = TlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                    ca: ca.into(),
                };
                let chain = load_certs(cert)?;
                let key = load_key(key)?;
                client_config(&roots, Some((&chain, &key, &files)))?
            }
            None => client_config(&roots, None)?,
        };
        Ok(ClientTls {
            connector: TlsConnector::from(config),
        })
    }

    /// The connector.
    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }
}

/// Dials `addr` and, with a connector, runs the TLS handshake checking the
/// node's certificate against the host of `addr`. The whole is bounded by
/// `limit`.
pub async fn connect(
    addr: &str,
    tls: Option<&TlsConnector>,
    limit: Duration,
) -> Result<BoxStream, std::io::Error> {
    use std::io::{Error, ErrorKind};
    let dial = async {
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Ok(Box::new(tcp) as BoxStream),
            Some(c) => {
                let name = server_name(addr).map_err(|e| Error::new(ErrorKind::InvalidInput, e))?;
                Ok(Box::new(c.connect(name, tcp).await?) as BoxStream)
            }
        }
    };
    tokio::time::timeout(limit, dial).await.map_err(|_| {
        Error::new(
            ErrorKind::TimedOut,
            format!("connecting to {addr} timed out"),
        )
    })?
}

/// Runs the server side of the handshake on an accepted connection (or
/// passes a plaintext one through), within [`HANDSHAKE_TIMEOUT`].
pub async fn accept(tcp: TcpStream, tls: Option<&TlsAcceptor>) -> Result<BoxStream, String> {
    let _ = tcp.set_nodelay(true);
    let Some(a) = tls else {
        return Ok(Box::new(tcp));
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, a.accept(tcp).into_fallible()).await {
        Ok(Ok(s)) => Ok(Box::new(s)),
        Ok(Err((e, tcp))) => {
            close_gently(tcp).await;
            Err(e.to_string())
        }
        Err(_) => Err(format!("no handshake within {HANDSHAKE_TIMEOUT:?}")),
    }
}

/// Closes a connection whose handshake failed so that the peer reads the
/// alert already sent: closing a socket with unread input resets it,
/// and a reset can destroy the alert before the peer reads it. So: end
/// our side, then read and drop what the peer still sends, briefly.
async fn close_gently(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let drain = async {
        let _ = tcp.shutdown().await;
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total < (64 << 10) {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
}

/// True when `e` comes from TLS (a handshake or record failure), not from
/// the connection itself.
pub fn is_tls_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

/// When `e` is a TLS failure that retrying will not cure (a certificate
/// refused by either end, or a peer that does not speak TLS), says what
/// it is.
pub fn permanent_failure(e: &std::io::Error) -> Option<String> {
    use rustls::AlertDescription as A;
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let why = match tls {
        rustls::Error::InvalidCertificate(c) => format!("the node's certificate is refused: {c:?}"),
        rustls::Error::AlertReceived(
            a @ (A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::AccessDenied
            | A::HandshakeFailure
            | A::ProtocolVersion),
        ) => format!("the node refused the TLS handshake ({a:?}): check --tls-cert/--tls-key"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the node does not speak TLS".to_string()
        }
        _ => return None,
    };
    Some(format!("TLS: {why}"))
}

/// A port ("peer" or "client") and a remote address.
type LogKey = (&'static str, IpAddr);

/// Logs failed accept-side handshakes at most once per port and remote
/// address per [`HANDSHAKE_LOG_INTERVAL`], with the count of those left
/// unlogged.
pub struct HandshakeLog {
    me: u32,
    /// Per (port, address): when a failure was last logged, and how many
    /// failures there were since (that one included).
    seen: Mutex<HashMap<LogKey, (Instant, u64)>>,
}

impl HandshakeLog {
    /// A log for node `me`.
    pub fn new(me: u32) -> HandshakeLog {
        HandshakeLog {
            me,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Reports a failed handshake on the `port` ("peer" or "client") from
    /// `from`; returns true when it was logged.
    pub fn failed(&self, port: &'static str, from: SocketAddr, why: &str) -> bool {
        let now = Instant::now();
        let suppressed = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let key = (port, from.ip());
            if seen.len() >= HANDSHAKE_LOG_ADDRS_MAX && !seen.contains_key(&key) {
                seen.clear();
            }
            let entry = seen.entry(key).or_insert((now, 0));
            if entry.1 > 0 && now.duration_since(entry.0) < HANDSHAKE_LOG_INTERVAL {
                entry.1 += 1;
                return false;
            }
            let suppressed = entry.1.saturating_sub(1);
            *entry = (now, 1);
            suppressed
        };
        let more = if suppressed > 0 {
            format!(" ({suppressed} more from there since the last report)")
        } else {
            String::new()
        };
        crate::server::log_line(
            self.me,
            format!(
                "TLS handshake on the {port} port from {from} failed: {why}{more}; \
                 further failures from {} there are logged at most once per {HANDSHAKE_LOG_INTERVAL:?}",
                from.ip()
            ),
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("127.0.0.1:7001"), "127.0.0.1");
        assert_eq!(host_of("node-1.example:7001"), "node-1.example");
        assert_eq!(host_of("[::1]:7001"), "::1");
        assert!(matches!(
            server_name("127.0.0.1:1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("localhost:1").unwrap(),
            ServerName::DnsName(_)
        ));
    }

    #[test]
    fn handshake_failures_are_logged_once_per_address() {
        let log = HandshakeLog::new(1);
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let a2: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        assert!(log.failed("peer", a, "x"));
        assert!(!log.failed("peer", a2, "x"));
        assert!(log.failed("client", a, "x"));
        assert!(!log.failed("client", a2, "x"));
        assert!(log.failed("peer", b, "x"));
    }

    #[test]
    fn missing_and_garbage_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = ClientTls::load(&missing, None).err().unwrap();
        assert!(e.contains("missing.pem"), "{e}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let e = ClientTls::load(&garbage, None).err().unwrap();
        assert!(e.contains("garbage.pem") && e.contains("no PEM"), "{e}");
        let bad_der = dir.path().join("bad-der.pem");
        std::fs::write(
            &bad_der,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = ClientTls::load(&bad_der, None).err().unwrap();
        assert!(e.contains("bad-der.pem"), "{e}");
    }
}
