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
//!
//! The Explorer shows the model through [`View`]: stateright's Explorer
//! lists every action of a state, also those that lead outside the bounds
//! (a crash of the client, a step into a term above `--max-term`) and
//! those the model ignores (a timer that only re-arms itself), which it
//! greys out and which open an empty state pane. The view offers only the
//! steps the checker itself takes, names actors `n0`, `client0` as the
//! command line does, and describes each step by the server fields it
//! changed.

use crate::config::ModelConfig;
use crate::model::{KwModel, KwState};
use serde::Deserialize;
use stateright::actor::Id;
use stateright::{Model, Property};
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

    let model = crate::model::build(cfg);
    if let Err(e) = crate::wrap::checked_properties(&model) {
        return usage_error(&e);
    }
    // Blocks for as long as the server runs.
    let _ = View::new(model).checker().serve(bound);
    0
}

/// The model as the Explorer shows it (see the module comment). Its
/// action indices are the ones in the Explorer's URLs, so the command
/// line encodes its traces' Explorer paths with this view too.
#[derive(Clone)]
pub struct View {
    inner: KwModel,
    properties: Vec<Property<KwModel>>,
}

impl View {
    /// The view of `inner`.
    pub fn new(inner: KwModel) -> View {
        let properties = inner.properties();
        View { inner, properties }
    }

    /// `n0`, `client0` or `admin`, from the configuration alone (the
    /// Explorer labels an action without its state).
    fn actor_name(&self, id: Id) -> String {
        let i = usize::from(id);
        let nodes = self.inner.cfg.nodes();
        match i.cmp(&nodes) {
            std::cmp::Ordering::Less => format!("n{i}"),
            std::cmp::Ordering::Equal => "client0".to_string(),
            std::cmp::Ordering::Greater => "admin".to_string(),
        }
    }
}

impl crate::wrap::Wraps for View {
    fn inner(&self) -> &KwModel {
        &self.inner
    }

    fn inner_properties(&self) -> &[Property<KwModel>] {
        &self.properties
    }
}

impl Model for View {
    type State = KwState;
    type Action = <KwModel as Model>::Action;

    fn init_states(&self) -> Vec<KwState> {
        self.inner.init_states()
    }

    /// Only the actions whose step the model takes and that stay within
    /// the bounds: the ones the checker explores.
    fn actions(&self, state: &KwState, actions: &mut Vec<Self::Action>) {
        let mut all = Vec::new();
        self.inner.actions(state, &mut all);
        actions.extend(all.into_iter().filter(|a| {
            self.inner
                .next_state(state, a.clone())
                .is_some_and(|next| Model::within_boundary(&self.inner, &next))
        }));
    }

    fn next_state(&self, last: &KwState, action: Self::Action) -> Option<KwState> {
        self.inner.next_state(last, action)
    }

    fn format_action(&self, action: &Self::Action) -> String {
        crate::trace::action_label_with(|id| self.actor_name(id), action)
    }

    /// The step's label, the server fields it changed, then stateright's
    /// own record of it (messages sent, timers set, both states).
    fn format_step(&self, last: &KwState, action: Self::Action) -> Option<String> {
        let label = crate::trace::action_label(last, &action);
        let Some(next) = self.inner.next_state(last, action.clone()) else {
            return Some(format!(
                "{label}\n\nIgnored: the model takes no step here (the action changes \
                 nothing, or only re-arms the timer that fired)."
            ));
        };
        let mut text = format!("{label}\n\n");
        let changes = crate::trace::step_changes(last, &next);
        if changes.is_empty() {
            text.push_str(
                "No server field changed: the step only consumed or sent messages, or set \
                 timers.\n",
            );
        }
        for c in &changes {
            text.push_str(&format!("{} {}: {} → {}\n", c.node, c.field, c.from, c.to));
        }
        if !Model::within_boundary(&self.inner, &next) {
            text.push_str("\nOutside the bounds: the checker does not explore this state.\n");
        }
        if let Some(raw) = self.inner.format_step(last, action) {
            text.push_str("\nstateright's record of the step:\n");
            text.push_str(&raw);
        }
        Some(text)
    }

    fn as_svg(&self, path: stateright::Path<KwState, Self::Action>) -> Option<String> {
        self.inner.as_svg(path)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        crate::wrap::properties(self)
    }

    fn within_boundary(&self, state: &KwState) -> bool {
        Model::within_boundary(&self.inner, state)
    }
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
        crate::limits::thousands(s.state_count as u64),
        crate::limits::thousands(s.unique_state_count as u64),
        s.max_depth
    );
    for (expectation, name, path) in &s.properties {
        out.push_str(&format!("  {}\n", verdict(expectation, name, path, base)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NetworkKind, Protocol};
    use crate::model::build;
    use stateright::actor::ActorModelAction;

    fn raft(max_term: u64, crashes: usize) -> ModelConfig {
        let mut cfg = ModelConfig::default_for(Protocol::Raft);
        cfg.max_term = max_term;
        cfg.crashes = crashes;
        cfg.network = NetworkKind::UnorderedNonduplicating;
        cfg
    }

    fn actions(
        m: &impl Model<State = KwState, Action = <KwModel as Model>::Action>,
        s: &KwState,
    ) -> Vec<<KwModel as Model>::Action> {
        let mut v = Vec::new();
        m.actions(s, &mut v);
        v
    }

    #[test]
    fn the_view_offers_no_client_crash_and_no_step_past_the_bounds() {
        let cfg = raft(1, 1);
        let client = Id::from(cfg.nodes());
        let model = build(&cfg);
        let view = View::new(model.clone());
        let init = &model.init_states()[0];
        // stateright offers a crash of the client; the bounds forbid it.
        assert!(actions(&model, init).contains(&ActorModelAction::Crash(client)));
        assert!(!actions(&view, init).contains(&ActorModelAction::Crash(client)));
        // After n0's election timeout (term 1), its timer fires again into
        // term 2 > --max-term 1: offered by stateright, not by the view.
        let timeout = actions(&view, init)
            .into_iter()
            .find(|a| view.format_action(a) == "n0 election timeout")
            .expect("n0 election timeout offered");
        let s1 = view.next_state(init, timeout.clone()).unwrap();
        let outside = |a: &<KwModel as Model>::Action| {
            model
                .next_state(&s1, a.clone())
                .is_some_and(|n| !Model::within_boundary(&model, &n))
        };
        assert!(
            actions(&model, &s1).iter().any(outside),
            "stateright offers term 2"
        );
        for a in actions(&view, &s1) {
            let next = view.next_state(&s1, a.clone());
            assert!(
                next.is_some_and(|n| Model::within_boundary(&model, &n)),
                "offered {} leads nowhere or out of bounds",
                view.format_action(&a)
            );
        }
        let step = view.format_step(init, timeout).unwrap();
        assert!(step.starts_with("n0 election timeout\n\n"), "{step}");
        assert!(step.contains("n0 term: 0 → 1"), "{step}");
    }

    #[test]
    fn a_traces_explorer_path_opens_its_last_state_in_the_view() {
        let mut cfg = raft(1, 1);
        cfg.bugs
            .insert(crate::bugs::from_name("unpersisted-vote").unwrap());
        let opts = crate::run::CheckOptions {
            strategy: crate::run::Strategy::Bfs,
            stop_on_violation: true,
            ..Default::default()
        };
        let r = crate::run::run(&cfg, &opts).unwrap();
        let p = r
            .properties
            .iter()
            .find(|p| p.name == "election-safety")
            .unwrap();
        let trace = p.trace.as_ref().expect("a counterexample");
        let indices: Vec<usize> = trace
            .explorer_path
            .trim_start_matches("#/steps/")
            .split('/')
            .map(|i| i.parse().unwrap())
            .collect();
        let view = View::new(build(&cfg));
        let mut state = view.init_states()[indices[0]].clone();
        for &i in &indices[1..] {
            let a = actions(&view, &state).swap_remove(i);
            state = view.next_state(&state, a).unwrap();
        }
        assert_eq!(
            crate::trace::snapshot(&state),
            *trace.states.last().unwrap(),
            "{}",
            trace.explorer_path
        );
    }

    #[test]
    fn a_lone_leader_lists_no_empty_acks() {
        for protocol in [Protocol::Raft, Protocol::Kraft] {
            let mut cfg = ModelConfig::default_for(protocol);
            cfg.servers = 1;
            cfg.crashes = 0;
            cfg.network = NetworkKind::UnorderedNonduplicating;
            let view = View::new(build(&cfg));
            let mut frontier = view.init_states();
            let mut lines = Vec::new();
            for _ in 0..6 {
                let mut next = Vec::new();
                for s in &frontier {
                    for a in actions(&view, s) {
                        next.extend(view.next_state(s, a));
                    }
                }
                for s in &next {
                    for a in s.actor_states.iter().filter_map(|a| a.server()) {
                        lines.push(crate::trace::server_fields(a)[0].1.clone());
                    }
                }
                frontier = next;
            }
            let leader: Vec<&String> = lines.iter().filter(|l| l.starts_with("leader")).collect();
            assert!(!leader.is_empty(), "{protocol}: no leader in {lines:?}");
            for l in leader {
                assert!(
                    !l.contains("acked )") && !l.contains("match )"),
                    "{protocol}: {l}"
                );
            }
        }
    }

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
