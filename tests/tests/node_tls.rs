//! TLS on real `kraftwerk-node` clusters, with throwaway certificates made
//! by rcgen: clusters elect and serve over TLS; clients and nodes without
//! a certificate of the cluster's CA are refused; bad TLS flags and PEM
//! files are one-line errors.

use kraftwerk_tests::node::{kraftwerk_node, parse_status, Cluster, TempDir};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A certificate authority whose certificates land in a directory.
struct Ca {
    name: String,
    dir: PathBuf,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    /// A fresh CA; its certificate is written to `<dir>/<name>-ca.pem`.
    fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{name}-ca.pem")), issuer.pem()).unwrap();
        Ca {
            name: name.into(),
            dir: dir.into(),
            issuer,
        }
    }

    fn ca_pem(&self) -> String {
        self.path(&format!("{}-ca.pem", self.name))
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// A certificate for `sans` usable by servers and clients; returns the
    /// paths of its PEM certificate and key.
    fn issue(&self, leaf: &str, sans: &[&str]) -> (String, String) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, leaf.to_string());
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (c, k) = (
            self.path(&format!("{leaf}.pem")),
            self.path(&format!("{leaf}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `serve` arguments for TLS with these files.
fn serve_tls(cert: &(String, String), ca: &str, require_client_cert: bool) -> Vec<String> {
    let mut v = strings(&["--tls-cert", &cert.0, "--tls-key", &cert.1, "--tls-ca", ca]);
    if require_client_cert {
        v.push("--tls-require-client-cert".into());
    }
    v
}

/// Runs the client CLI against the nodes `via` with exactly the TLS
/// arguments `tls` (not the cluster's `cli_extra`).
fn cli_with(c: &Cluster, via: &[u32], tls: &[&str], args: &[&str]) -> Output {
    let addrs: Vec<String> = c
        .clients
        .iter()
        .filter(|(i, _)| via.contains(i))
        .map(|(i, a)| format!("{i}={a}"))
        .collect();
    Command::new(kraftwerk_node())
        .args(args)
        .args(["--client-addrs", &addrs.join(",")])
        .args(tls)
        .output()
        .expect("run kraftwerk-node")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a failed command: a non-zero exit and one line on stderr,
/// `kraftwerk-node: error: ...`, mentioning every one of `needles`.
fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "should fail; stderr: {err}");
    assert!(err.starts_with("kraftwerk-node: error: "), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr mentions {n:?}: {err}");
    }
}

/// Lines of node `id`'s log that report a failed TLS handshake on `port`.
fn handshake_failures(c: &Cluster, id: u32, port: &str) -> usize {
    let log = std::fs::read_to_string(c.log_file(id)).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains(&format!("TLS handshake on the {port} port")))
        .count()
}

#[test]
fn raft_over_tls_requires_client_certificates_of_the_ca() {
    let pki = TempDir::new("tls-raft-pki");
    let ca = Ca::new(pki.path(), "cluster");
    let other = Ca::new(pki.path(), "other");
    let node = ca.issue("node", &["127.0.0.1"]);
    let client = ca.issue("client", &[]);
    let stranger = other.issue("stranger-client", &[]);
    let ca_pem = ca.ca_pem();

    let mut c = Cluster::new("raft", 3);
    for id in 1..=3 {
        c.serve_extra.insert(id, serve_tls(&node, &ca_pem, true));
    }
    c.cli_extra = strings(&[
        "--tls-ca",
        &ca_pem,
        "--tls-cert",
        &client.0,
        "--tls-key",
        &client.1,
    ]);
    c.start_all();
    c.wait_leader(&[1, 2, 3], Duration::from_secs(30));
    // A connection that never starts its handshake is closed by the node
    // (after its 5 s handshake deadline); checked at the end.
    let mut silent = std::net::TcpStream::connect(&c.clients[&1]).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    c.put(&[1, 2, 3], "k", "v1");
    assert_eq!(c.get(&[1, 2, 3], "k"), "v1");

    // Without a client certificate: refused at the TLS level by every node.
    let out = cli_with(
        &c,
        &[1, 2, 3],
        &["--tls-ca", &ca_pem, "--timeout", "15"],
        &["put", "k", "anonymous"],
    );
    assert_one_line_error(&out, &["TLS"]);
    // With a certificate of another CA: refused too.
    let out = cli_with(
        &c,
        &[1, 2, 3],
        &[
            "--tls-ca",
            &ca_pem,
            "--tls-cert",
            &stranger.0,
            "--tls-key",
            &stranger.1,
            "--timeout",
            "15",
        ],
        &["put", "k", "stranger"],
    );
    assert_one_line_error(&out, &["TLS"]);
    // Plaintext: no answer, a clean error.
    let out = cli_with(&c, &[1, 2, 3], &["--timeout", "3"], &["put", "k", "plain"]);
    assert_one_line_error(&out, &["gave up"]);
    let out = cli_with(&c, &[1, 2, 3], &[], &["status"]);
    assert_one_line_error(&out, &["no node reachable"]);
    // The node's certificate names 127.0.0.1, not localhost: a client
    // dialing localhost refuses it.
    let port = c.clients[&1].rsplit_once(':').unwrap().1.to_string();
    let out = Command::new(kraftwerk_node())
        .args(["status", "--client-addrs", &format!("1=localhost:{port}")])
        .args(&c.cli_extra)
        .output()
        .unwrap();
    assert_one_line_error(&out, &["no node reachable"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NotValidForName"), "stdout: {stdout}");

    // None of the refused writes landed.
    assert_eq!(c.get(&[1, 2, 3], "k"), "v1");
    // Every node saw failed handshakes on its client port (the plaintext
    // client alone tried for 3 s) but logged them once.
    let logged: Vec<usize> = (1..=3)
        .map(|id| handshake_failures(&c, id, "client"))
        .collect();
    assert!(logged.iter().all(|&n| n <= 1), "logged: {logged:?}");
    assert!(logged.iter().sum::<usize>() >= 1, "logged: {logged:?}");
    for id in 1..=3 {
        assert!(c.alive(id), "node {id} still runs");
    }
    let mut byte = [0u8; 1];
    let closed = std::io::Read::read(&mut silent, &mut byte);
    assert!(
        matches!(closed, Ok(0)),
        "the node closes a silent connection: {closed:?}"
    );
}

#[test]
fn kraft_over_tls_keeps_a_node_of_another_ca_out() {
    let pki = TempDir::new("tls-kraft-pki");
    let ca = Ca::new(pki.path(), "cluster");
    let other = Ca::new(pki.path(), "other");
    let node = ca.issue("node", &["127.0.0.1"]);
    let impostor = other.issue("impostor", &["127.0.0.1"]);
    let ca_pem = ca.ca_pem();
    let other_pem = other.ca_pem();

    let mut c = Cluster::new("kraft", 3);
    c.serve_extra.insert(1, serve_tls(&node, &ca_pem, false));
    c.serve_extra.insert(2, serve_tls(&node, &ca_pem, false));
    // Node 3 is configured as a member but holds another CA's certificate
    // (and trusts that CA, so that it starts).
    c.serve_extra
        .insert(3, serve_tls(&impostor, &other_pem, false));
    // Client certificates are not required: a client with the CA only.
    c.cli_extra = strings(&["--tls-ca", &ca_pem]);
    c.start_all();
    let leader = c.wait_leader(&[1, 2], Duration::from_secs(30));
    assert!(leader == 1 || leader == 2);
    for i in 0..5 {
        c.put(&[1, 2], &format!("k{i}"), &format!("v{i}"));
    }
    assert_eq!(c.get(&[1, 2], "k4"), "v4");
    let st = c.status();
    let commit = st[&leader].as_ref().expect("leader status").commit;
    assert!(commit >= 6, "status: {st:?}");
    assert!(
        st[&3].is_none(),
        "node 3 is unreachable with the CA: {st:?}"
    );

    // Asked with its own CA, the impostor has learned nothing.
    let out = cli_with(&c, &[3], &["--tls-ca", &other_pem], &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let s = text
        .lines()
        .find_map(parse_status)
        .unwrap_or_else(|| panic!("impostor status: {text} {}", stderr(&out)));
    assert_eq!((s.commit, s.log_end), (0, 0), "impostor: {s:?}");
    assert_ne!(s.role, "leader");
    // The cluster still serves with its leader.
    c.put(&[1, 2], "after", "yes");
    assert_eq!(c.get(&[1, 2], "after"), "yes");
    // The impostor kept redialing; each member logged that once.
    let logged: Vec<usize> = (1..=2)
        .map(|id| handshake_failures(&c, id, "peer"))
        .collect();
    assert!(logged.iter().all(|&n| n == 1), "logged: {logged:?}");
    for id in 1..=3 {
        assert!(c.alive(id), "node {id} still runs");
    }
}

#[test]
fn bad_tls_flags_and_pem_files_are_one_line_errors() {
    let pki = TempDir::new("tls-bad-pki");
    let ca = Ca::new(pki.path(), "cluster");
    let other = Ca::new(pki.path(), "other");
    let node = ca.issue("node", &["127.0.0.1"]);
    let foreign = other.issue("foreign", &["127.0.0.1"]);
    let garbage = pki.path().join("garbage.pem").display().to_string();
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let missing = pki.path().join("missing.pem").display().to_string();
    let ca_pem = ca.ca_pem();
    let data = pki.path().join("data").display().to_string();
    let serve = |extra: &[&str]| {
        Command::new(kraftwerk_node())
            .args([
                "serve",
                "--id",
                "1",
                "--peers",
                "1=127.0.0.1:1",
                "--client-addr",
                "127.0.0.1:2",
                "--data-dir",
                &data,
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let cert = ["--tls-cert", node.0.as_str()];
    let key = ["--tls-key", node.1.as_str()];
    let with_ca = ["--tls-ca", ca_pem.as_str()];

    assert_one_line_error(&serve(&cert), &["--tls-key", "--tls-ca"]);
    assert_one_line_error(&serve(&[&cert[..], &key[..]].concat()), &["--tls-ca"]);
    assert_one_line_error(&serve(&["--tls-require-client-cert"]), &["--tls-cert"]);
    for (flag, file) in [("--tls-cert", 0), ("--tls-key", 1), ("--tls-ca", 2)] {
        for bad in [&missing, &garbage] {
            let mut files = [node.0.as_str(), node.1.as_str(), ca_pem.as_str()];
            files[file] = bad;
            let out = serve(&[
                "--tls-cert",
                files[0],
                "--tls-key",
                files[1],
                "--tls-ca",
                files[2],
            ]);
            assert_one_line_error(&out, &[bad.as_str()]);
            assert!(!stderr(&out).is_empty(), "{flag}");
        }
    }
    // A node certificate that its CA did not sign.
    let out = serve(&[
        "--tls-cert",
        &foreign.0,
        "--tls-key",
        &foreign.1,
        "--tls-ca",
        &ca_pem,
    ]);
    assert_one_line_error(&out, &[foreign.0.as_str()]);
    // A key that does not belong to the certificate.
    let out = serve(&[
        "--tls-cert",
        &node.0,
        "--tls-key",
        &foreign.1,
        "--tls-ca",
        &ca_pem,
    ]);
    assert_one_line_error(&out, &[node.0.as_str()]);

    // Clients.
    let client = |extra: &[&str]| {
        Command::new(kraftwerk_node())
            .args(["put", "k", "v", "--client-addrs", "1=127.0.0.1:1"])
            .args(extra)
            .output()
            .unwrap()
    };
    assert_one_line_error(&client(&cert), &["--tls-key"]);
    assert_one_line_error(&client(&[&cert[..], &key[..]].concat()), &["--tls-ca"]);
    assert_one_line_error(&client(&["--tls-ca", &garbage]), &[garbage.as_str()]);
    assert_one_line_error(&client(&["--tls-ca", &missing]), &[missing.as_str()]);
    assert_one_line_error(
        &client(
            &[
                &with_ca[..],
                &["--tls-cert", &garbage, "--tls-key", &node.1],
            ]
            .concat(),
        ),
        &[garbage.as_str()],
    );
}
