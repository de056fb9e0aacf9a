//! `kraftwerk explore`: stateright's Explorer web UI for one configuration.
//!
//! The Explorer (`CheckerBuilder::serve`) blocks forever and searches only
//! on demand: it explores the states a browser asks for, and the whole
//! space once someone presses "Run to completion". This module checks the
//! address and the working directory first (so that mistakes are one-line
//! errors, not panics or the wrong page), prints the URL to open, and
//! watches the Explorer's own `/.status` endpoint from a helper thread so
//! that, when the search completes, the results and the deep links to
//! every discovery (`http://ADDR/#/steps/0/2/1`) are printed on the
//! terminal as well.

use crate::config::ModelConfig;
use serde::Deserialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

/// Exit code for bad usage (as `cli::EXIT_USAGE`).
const EXIT_USAGE: i32 = 2;

/// How often the watcher asks the Explorer for its status.
const POLL: Duration = Duration::from_millis(500);

fn usage_error(msg: &str) -> i32 {
    eprintln!("kraftwerk: error: {msg}");
    EXIT_USAGE
}

/// The part of the Explorer's `GET /.status` answer the watcher reads.
#[derive(Debug, Deserialize)]
pub struct Status {
    /// The search is complete (or every property has a discovery).
    pub done: bool,
    /// States generated.
    pub state_count: usize,
    /// Distinct states.
    pub unique_state_count: usize,
    /// Deepest path explored.
    pub max_depth: usize,
    /// `(expectation, name, encoded discovery path)` per property.
    pub properties: Vec<(String, String, Option<String>)>,
}

/// Checks the environment, prints the URL, and serves the Explorer until
/// the process is stopped. Returns an exit code only on a usage error.
pub fn explore(cfg: &ModelConfig, addr: &str) -> i32 {
    if Path::new("ui").is_dir() {
        return usage_error(
            "a ui/ directory exists in the current directory, and stateright's Explorer \
             would serve its files instead of its own page; run kraftwerk explore from \
             another directory",
        );
    }
    let bound = match resolve_and_probe(addr) {
        Ok(a) => a,
        Err(e) => return usage_error(&format!("cannot listen on {addr}: {e}")),
    };
    let base = format!("http://{bound}");
    let describe = cfg.describe();
    // The URL is printed once the server answers, so that whoever reads it
    // (a person or a script) can open it at once.
    std::thread::spawn(move || {
        wait_until_serving(bound);
        println!("Explorer for {describe} at {base}/");
        println!(
            "Open {base}/ in a browser and press \"Run to completion\" to search the \
             whole space (press Ctrl-C to stop)."
        );
        let _ = std::io::stdout().flush();
        watch(bound, &base);
    });

    use stateright::Model;
    // Blocks for as long as the server runs.
    let _ = crate::model::build(cfg).checker().serve(bound);
    0
}

/// Resolves `addr` and checks that it can be listened on. A port of 0 is
/// replaced by the free port the probe got, so the URL printed is right.
fn resolve_and_probe(addr: &str) -> Result<SocketAddr, String> {
    let first = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| "the address resolves to nothing".to_string())?;
    let listener = TcpListener::bind(first).map_err(|e| e.to_string())?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    drop(listener);
    Ok(bound)
}

/// Waits until the Explorer answers `/.status`.
fn wait_until_serving(addr: SocketAddr) {
    while fetch_status(addr).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `/.status`: prints each discovery as soon as it is made (a search
/// of a large space can run for a long time), and the results once the
/// search is done.
fn watch(addr: SocketAddr, base: &str) {
    let mut reported = std::collections::BTreeSet::new();
    loop {
        std::thread::sleep(POLL);
        let Ok(s) = fetch_status(addr) else { continue };
        if s.done {
            print!("{}", summary(&s, base));
            let _ = std::io::stdout().flush();
            return;
        }
        for (expectation, name, path) in &s.properties {
            if path.is_some() && reported.insert(name.clone()) {
                println!("Found: {}", verdict(expectation, name, path, base));
                let _ = std::io::stdout().flush();
            }
        }
    }
}

/// `GET /.status` over plain HTTP/1.0.
pub fn fetch_status(addr: SocketAddr) -> Result<Status, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET /.status HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or("no HTTP body")?;
    serde_json::from_str(body).map_err(|e| e.to_string())
}

/// `always election-safety: COUNTEREXAMPLE http://ADDR/#/steps/0/2/1`,
/// `always log-matching: holds`, `sometimes commit: example URL` or
/// `sometimes commit: NOT FOUND`.
pub fn verdict(expectation: &str, name: &str, path: &Option<String>, base: &str) -> String {
    let kind = expectation.to_lowercase();
    let verdict = match (expectation, path) {
        ("Sometimes", Some(p)) => format!("example {base}/#/steps/{p}"),
        ("Sometimes", None) => "NOT FOUND".to_string(),
        (_, Some(p)) => format!("COUNTEREXAMPLE {base}/#/steps/{p}"),
        (_, None) => "holds".to_string(),
    };
    format!("{kind} {name}: {verdict}")
}

/// The text printed when the search completes: counts, then one line per
/// property, with the deep link of its discovery if it has one.
pub fn summary(s: &Status, base: &str) -> String {
    let mut out = format!(
        "Search complete: {} states ({} unique), max depth {}.\n",
        s.state_count, s.unique_state_count, s.max_depth
    );
    for (expectation, name, path) in &s.properties {
        out.push_str(&format!("  {}\n", verdict(expectation, name, path, base)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_links_discoveries() {
        let s = Status {
            done: true,
            state_count: 10,
            unique_state_count: 7,
            max_depth: 3,
            properties: vec![
                (
                    "Always".into(),
                    "election-safety".into(),
                    Some("0/2/1".into()),
                ),
                ("Always".into(), "log-matching".into(), None),
                ("Sometimes".into(), "commit".into(), Some("0/1".into())),
                ("Sometimes".into(), "never".into(), None),
            ],
        };
        let text = summary(&s, "http://127.0.0.1:3000");
        assert!(text.contains(
            "always election-safety: COUNTEREXAMPLE http://127.0.0.1:3000/#/steps/0/2/1"
        ));
        assert!(text.contains("always log-matching: holds"));
        assert!(text.contains("sometimes commit: example http://127.0.0.1:3000/#/steps/0/1"));
        assert!(text.contains("sometimes never: NOT FOUND"));
    }
}
