//! The `kraftwerk` command line (see DESIGN.md, "Command-line contract").
//!
//! Exit codes: 0 every property as expected; 12 an "always" property
//! violated; 13 a "sometimes" property never reached; 2 bad usage or a bad
//! configuration, with a one-line error on stderr; 3 the checker itself
//! failed.

use crate::bugs;
use crate::config::{ModelConfig, NetworkKind, Plan, Protocol, Reconfig};
use crate::report;
use crate::run::{run, CheckOptions, Engine, RunResult, Status, Strategy, View};
use clap::{Args, Parser, Subcommand};
use kraftwerk_specs::protocol::ProtocolKind;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Exit code: every property as expected.
pub const EXIT_OK: i32 = 0;
/// Exit code: bad usage or configuration.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: an "always" property was violated.
pub const EXIT_VIOLATED: i32 = 12;
/// Exit code: a "sometimes" property was never reached.
pub const EXIT_NOT_FOUND: i32 = 13;
/// Exit code: the checker itself failed (one-line error).
pub const EXIT_CHECKER: i32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "kraftwerk",
    version,
    about = "Model-check Raft and KRaft exhaustively with stateright"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
// Parsed once per process: the size of a variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Check a configuration (or, with no model flags, the standard suite).
    Check {
        #[command(flatten)]
        model: ModelFlags,
        #[command(flatten)]
        checker: CheckerFlags,
    },
    /// Serve stateright's Explorer web UI for a configuration.
    Explore {
        #[command(flatten)]
        model: ModelFlags,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
    },
    /// Run configurations on both engines and print their figures side by
    /// side (no assertions).
    BenchCheck {
        /// Model flags of one configuration, as one string (repeatable;
        /// default: the standard suite).
        #[arg(long = "flags", allow_hyphen_values = true)]
        configs: Vec<String>,
        /// Checker flags passed to every run (e.g. `--threads 1`).
        #[arg(long, allow_hyphen_values = true)]
        extra: Option<String>,
    },
    /// List the bug catalogue.
    Bugs {
        /// Print the catalogue as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Flags that choose the model. Unset flags take the protocol's defaults.
#[derive(Args, Debug, Default)]
struct ModelFlags {
    /// raft or kraft.
    #[arg(long)]
    protocol: Option<String>,
    /// Membership change: none, joint or single.
    #[arg(long)]
    reconfig: Option<String>,
    /// Membership plan: `+3,-0` adds n3 then removes n0 (the default);
    /// `|` sends requests together (`-3|-2`); `+3-0` is one request.
    #[arg(long)]
    changes: Option<String>,
    /// Number of servers (1 to 7).
    #[arg(long, allow_negative_numbers = true, value_parser = count::<usize>)]
    servers: Option<usize>,
    /// Highest term (epoch) any server may reach.
    #[arg(long, allow_negative_numbers = true, value_parser = count::<u64>)]
    max_term: Option<u64>,
    /// Client requests.
    #[arg(long, allow_negative_numbers = true, value_parser = count::<usize>)]
    values: Option<usize>,
    /// Total server crashes over a run.
    #[arg(long, allow_negative_numbers = true, value_parser = count::<usize>)]
    crashes: Option<usize>,
    /// unordered-duplicating, unordered-nonduplicating or ordered.
    #[arg(long)]
    network: Option<String>,
    /// The network may also drop messages.
    #[arg(long)]
    lossy: bool,
    /// on or off: whether a leader's heartbeat timer fires (default: on,
    /// off under --reconfig).
    #[arg(long)]
    heartbeats: Option<String>,
    /// KRaft: servers that fetch but never vote.
    #[arg(long, allow_negative_numbers = true, value_parser = count::<usize>)]
    observers: Option<usize>,
    /// production (what kraftwerk-node runs: Raft with the leader no-op,
    /// KRaft with pre-vote and check-quorum; the default) or figure2 (the
    /// protocols as published; the default with --bug)
    #[arg(long, value_name = "CONFIG")]
    config: Option<String>,
    /// KRaft: KIP-996 pre-vote (on in production).
    #[arg(long)]
    pre_vote: bool,
    /// KRaft: a leader resigns without fetches from a majority (on in
    /// production).
    #[arg(long)]
    check_quorum: bool,
    /// Switch on a catalogued bug (see `kraftwerk bugs`).
    #[arg(long)]
    bug: Option<String>,
}

/// Flags that choose how to search.
#[derive(Args, Debug)]
struct CheckerFlags {
    /// Worker threads (default: all cores; at most 4 per core).
    #[arg(long, allow_negative_numbers = true, value_parser = count::<usize>)]
    threads: Option<usize>,
    /// bfs, dfs or simulation (default: dfs; bfs with --bug, for the
    /// shortest counterexample).
    #[arg(long)]
    strategy: Option<String>,
    /// Explore no deeper than this (the result is then incomplete).
    #[arg(long, allow_negative_numbers = true, value_parser = count::<usize>)]
    depth: Option<usize>,
    /// Turn symmetry reduction off.
    #[arg(long)]
    no_symmetry: bool,
    /// Stop after this many generated states (the result is then
    /// incomplete, unless the search ended first).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = count::<usize>)]
    max_states: Option<usize>,
    /// Stop after this many seconds (the result is then incomplete).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, value_parser = count::<u64>)]
    time_limit: Option<u64>,
    /// Stop once the checker's resident memory reaches SIZE (4G, 512M;
    /// default: half of the machine's memory). The result is then
    /// incomplete.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = memory_size)]
    memory_limit: Option<u64>,
    /// Seed for the simulation strategy.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = count::<u64>)]
    seed: u64,
    /// Print one JSON object as the last line of stdout.
    #[arg(long)]
    json: bool,
    /// The checker of exhaustive searches (dfs, bfs): stateright (the
    /// reference; the default) or kraftwerk (the project's engine).
    #[arg(long)]
    engine: Option<String>,
    /// What of a state the kraftwerk engine tells states apart by: protocol
    /// (everything but stateright's record of the last delivered message,
    /// which nothing reads; the default) or stateright (the whole state, so
    /// that counts equal stateright's).
    #[arg(long)]
    view: Option<String>,
    /// Partial-order reduction in the kraftwerk engine: sleep-sets (prunes
    /// transitions between independent actors, never states) or off.
    #[arg(long)]
    por: Option<String>,
    /// The shortest counterexample: breadth-first search on one thread.
    #[arg(long)]
    shortest: bool,
    /// Write the first violated property's counterexample to FILE.
    #[arg(long, value_name = "FILE")]
    trace_out: Option<PathBuf>,
    /// Format of --trace-out: json or itf (Apalache/Quint trace format).
    #[arg(long, value_name = "FORMAT")]
    trace_format: Option<String>,
}

/// A count flag's value: a non-negative integer. (With clap's own parser
/// `--max-term -1` reads as an unknown flag `-1`.)
fn count<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| "must be a non-negative integer".to_string())
}

/// `--memory-limit`: a size such as `4G` or `512M`.
fn memory_size(s: &str) -> Result<u64, String> {
    crate::limits::parse_size(s)
}

/// The most worker threads per core `--threads` accepts: more only
/// slow the search down, and each one costs a stack.
const THREADS_PER_CORE_MAX: usize = 4;

/// The format of `--trace-out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TraceFormat {
    Json,
    Itf,
}

impl ModelFlags {
    fn any(&self) -> bool {
        self.protocol.is_some()
            || self.reconfig.is_some()
            || self.changes.is_some()
            || self.servers.is_some()
            || self.max_term.is_some()
            || self.values.is_some()
            || self.crashes.is_some()
            || self.network.is_some()
            || self.lossy
            || self.heartbeats.is_some()
            || self.observers.is_some()
            || self.config.is_some()
            || self.pre_vote
            || self.check_quorum
            || self.bug.is_some()
    }

    /// The configuration these flags describe, validated.
    fn to_config(&self) -> Result<ModelConfig, String> {
        let bug = match &self.bug {
            None => None,
            Some(name) => Some(bugs::from_name(name).map(bugs::checked).ok_or_else(|| {
                format!(
                    "unknown bug '{name}' (valid: {})",
                    bugs::catalogue()
                        .map(|b| b.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?),
        };
        let protocol = match self.protocol.as_deref() {
            None => match bug.map(|b| b.info.protocols[0]) {
                Some(ProtocolKind::Kraft) => Protocol::Kraft,
                _ => Protocol::Raft,
            },
            Some("raft") => Protocol::Raft,
            Some("kraft") => Protocol::Kraft,
            Some(p) => return Err(format!("unknown protocol '{p}' (expected raft or kraft)")),
        };
        let reconfig = match (&self.reconfig, bug) {
            (Some(r), _) => Reconfig::parse(r)?,
            (None, Some(b)) => b.bounds.reconfig,
            (None, None) => Reconfig::None,
        };
        let mut cfg = if reconfig == Reconfig::None {
            ModelConfig::default_for(protocol)
        } else {
            ModelConfig::default_reconfig(protocol, reconfig)
        };
        // A catalogued bug's bounds were found on the protocol as published.
        let production = match self.config.as_deref() {
            None => bug.is_none(),
            Some("production") => true,
            Some("figure2") => false,
            Some(c) => {
                return Err(format!(
                    "unknown --config '{c}' (expected production or figure2)"
                ))
            }
        };
        if production {
            cfg = cfg.production();
        }
        if let Some(b) = bug {
            if !b.info.protocols.contains(&protocol.kind()) {
                return Err(format!(
                    "bug '{}' lives in {}, not {protocol}",
                    b.name,
                    b.protocols()
                ));
            }
            cfg.bugs.insert(b.info.bug);
            // The bug's own bounds are the defaults; explicit flags win.
            let bounds = &b.bounds;
            cfg.servers = bounds.servers;
            cfg.max_term = bounds.max_term;
            cfg.values = bounds.values;
            cfg.crashes = bounds.crashes;
            cfg.network = bounds.network;
            cfg.heartbeats = bounds.heartbeats;
            if !bounds.changes.is_empty() {
                cfg.changes = Plan::parse(bounds.changes)?;
            }
        }
        if let Some(n) = self.servers {
            cfg.servers = n;
            if reconfig != Reconfig::None && self.changes.is_none() {
                cfg.changes = Plan::default_for(reconfig, n);
            }
        }
        if let Some(c) = &self.changes {
            cfg.changes = Plan::parse(c)?;
        }
        if let Some(t) = self.max_term {
            cfg.max_term = t;
        }
        if let Some(v) = self.values {
            cfg.values = v;
        }
        if let Some(c) = self.crashes {
            cfg.crashes = c;
        }
        if let Some(n) = &self.network {
            cfg.network = NetworkKind::parse(n)?;
        }
        cfg.lossy = self.lossy;
        match self.heartbeats.as_deref() {
            None => {}
            Some("on") => cfg.heartbeats = true,
            Some("off") => cfg.heartbeats = false,
            Some(h) => return Err(format!("unknown --heartbeats '{h}' (expected on or off)")),
        }
        cfg.observers = self.observers.unwrap_or(0);
        cfg.pre_vote |= self.pre_vote;
        cfg.check_quorum |= self.check_quorum;
        cfg.validate()?;
        Ok(cfg)
    }
}

impl CheckerFlags {
    /// The `--trace-format`, validated.
    fn trace_format(&self) -> Result<TraceFormat, String> {
        match self.trace_format.as_deref() {
            None | Some("json") => Ok(TraceFormat::Json),
            Some("itf") => Ok(TraceFormat::Itf),
            Some(f) => Err(format!("unknown trace format '{f}' (expected json or itf)")),
        }
    }

    /// The search options; `bug_strategy` is the strategy of the bug's
    /// catalogued bounds, if a bug is on.
    fn to_options(
        &self,
        stop_on_violation: bool,
        bug_strategy: Option<&'static str>,
    ) -> Result<CheckOptions, String> {
        let default = match bug_strategy {
            Some(s) => s,
            None if stop_on_violation => "bfs",
            None => "dfs",
        };
        if self.shortest {
            if let Some(s) = self.strategy.as_deref().filter(|s| *s != "bfs") {
                return Err(format!(
                    "--shortest searches breadth-first; it cannot be combined with --strategy {s}"
                ));
            }
            if let Some(n) = self.threads.filter(|&n| n != 1) {
                return Err(format!(
                    "--shortest searches on one thread; it cannot be combined with --threads {n}"
                ));
            }
        }
        let chosen = if self.shortest {
            "bfs"
        } else {
            self.strategy.as_deref().unwrap_or(default)
        };
        let strategy = match chosen {
            "bfs" => Strategy::Bfs,
            "dfs" => Strategy::Dfs,
            "simulation" => Strategy::Simulation,
            s => {
                return Err(format!(
                    "unknown strategy '{s}' (expected bfs, dfs or simulation)"
                ))
            }
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads_max = THREADS_PER_CORE_MAX * cores;
        let threads = match self.threads {
            _ if self.shortest => 1,
            Some(n) if n == 0 || n > threads_max => {
                return Err(format!(
                    "--threads must be between 1 and {threads_max} \
                     ({THREADS_PER_CORE_MAX} per core, {cores} cores), got {n}"
                ))
            }
            Some(n) => n,
            None => cores,
        };
        if self.depth == Some(0) {
            return Err("--depth must be at least 1".into());
        }
        if self.max_states == Some(0) {
            return Err("--max-states must be at least 1 (omit it for no limit)".into());
        }
        if self.time_limit == Some(0) {
            return Err("--time-limit must be at least 1 second (omit it for no limit)".into());
        }
        let engine = match self.engine.as_deref() {
            None | Some("stateright") => Engine::Stateright,
            Some("kraftwerk") => Engine::Kraftwerk,
            Some(e) => {
                return Err(format!(
                    "unknown engine '{e}' (expected kraftwerk or stateright)"
                ))
            }
        };
        let view =
            match (self.view.as_deref(), engine) {
                (None, Engine::Kraftwerk) | (Some("protocol"), Engine::Kraftwerk) => View::Protocol,
                (None | Some("stateright"), _) => View::Stateright,
                (Some("protocol"), Engine::Stateright) => return Err(
                    "--view protocol needs --engine kraftwerk (stateright counts its whole state)"
                        .into(),
                ),
                (Some(v), _) => {
                    return Err(format!(
                        "unknown view '{v}' (expected protocol or stateright)"
                    ))
                }
            };
        if self.view.is_some() && strategy == Strategy::Simulation {
            return Err(
                "--view applies to exhaustive searches, not to --strategy simulation".into(),
            );
        }
        let sleep_sets = match (self.por.as_deref(), engine) {
            (None | Some("off"), _) => false,
            (Some("sleep-sets"), Engine::Kraftwerk) => true,
            (Some("sleep-sets"), Engine::Stateright) => {
                return Err("--por sleep-sets needs --engine kraftwerk".into())
            }
            (Some(p), _) => {
                return Err(format!(
                    "unknown partial-order reduction '{p}' (expected sleep-sets or off)"
                ))
            }
        };
        if sleep_sets && view == View::Stateright {
            return Err("--por sleep-sets needs --view protocol (in stateright's view no two deliveries commute)".into());
        }
        Ok(CheckOptions {
            sleep_sets,
            view,
            engine,
            threads,
            strategy,
            depth: self.depth,
            symmetry: !self.no_symmetry,
            stop_on_violation,
            max_states: self.max_states,
            time_limit: self.time_limit.map(std::time::Duration::from_secs),
            memory_limit: self
                .memory_limit
                .or_else(crate::limits::default_memory_limit),
            progress: true,
            seed: self.seed,
        })
    }
}

/// The standard suite a bare `kraftwerk check` runs: the production
/// configuration (`kraftwerk-node`'s) of each protocol, and the protocols as
/// published, each at the largest bounds stateright exhausts in about a
/// minute on 2 cores. Production at the published runs' bounds does not
/// (measured: Raft with the leader no-op, one value and one crash, past
/// 1.4 M states in 200 s; KRaft with pre-vote and check-quorum on three
/// voters, past 4.1 M states in 300 s), so the production runs are smaller:
/// Raft's no-op is its only entry, KRaft has two voters.
pub fn default_suite() -> Vec<ModelConfig> {
    vec![
        ModelConfig {
            values: 0,
            ..ModelConfig::default_raft().production()
        },
        ModelConfig::default_raft(),
        ModelConfig {
            servers: 2,
            ..ModelConfig::default_kraft().production()
        },
        ModelConfig::default_kraft(),
        ModelConfig::default_reconfig(Protocol::Raft, Reconfig::Single).production(),
        ModelConfig::default_reconfig(Protocol::Kraft, Reconfig::Joint).production(),
    ]
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("kraftwerk: error: {msg}");
    EXIT_USAGE
}

/// Runs the command line; returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return EXIT_OK;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return EXIT_USAGE;
            }
            // clap's message, first line only, without its "error: " prefix.
            let text = e.to_string();
            let line = text.lines().next().unwrap_or("bad usage");
            return usage_error(line.trim_start_matches("error: "));
        }
    };
    match cli.command {
        Command::Bugs { json } => {
            print_bugs(json);
            EXIT_OK
        }
        Command::Check { model, checker } => check(&model, &checker),
        Command::BenchCheck { configs, extra } => {
            let extra: Vec<String> = extra
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            crate::engine::bench::bench_check(&configs, &extra)
        }
        Command::Explore { model, addr } => explore(&model, &addr),
    }
}

fn print_bugs(json: bool) {
    if json {
        let bugs: Vec<_> = bugs::catalogue()
            .map(|b| {
                serde_json::json!({
                    "name": b.name,
                    "protocol": b.protocols(),
                    "breaks": b.info.breaks.name,
                    "source": b.info.source,
                    "description": b.info.description,
                    "bounds": {
                        "servers": b.bounds.servers,
                        "max_term": b.bounds.max_term,
                        "values": b.bounds.values,
                        "crashes": b.bounds.crashes,
                        "network": b.bounds.network.name(),
                        "strategy": b.bounds.strategy,
                    },
                    "args": b.bounds.args(),
                    "trace_steps": b.bounds.trace_steps,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "bugs": bugs }));
        return;
    }
    // Columns as wide as their longest entry.
    let name_w = bugs::catalogue()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let proto_w = bugs::catalogue()
        .map(|b| b.protocols().len())
        .max()
        .unwrap_or(0)
        .max(8);
    let breaks_w = bugs::catalogue()
        .map(|b| b.info.breaks.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    println!(
        "{:<name_w$}  {:<proto_w$}  {:<breaks_w$}  bounds (defaults of check --bug NAME)",
        "name", "protocol", "breaks"
    );
    for b in bugs::catalogue() {
        let found = match b.bounds.trace_steps {
            Some(n) => format!("{n}-step counterexample"),
            None => "not found within a minute".to_string(),
        };
        println!(
            "{:<name_w$}  {:<proto_w$}  {:<breaks_w$}  {} ({found})",
            b.name,
            b.protocols(),
            b.info.breaks.name,
            b.bounds
        );
    }
    for b in bugs::catalogue() {
        println!(
            "\n{}: {}\n    source: {}",
            b.name, b.info.description, b.info.source
        );
    }
}

fn check(model: &ModelFlags, checker: &CheckerFlags) -> i32 {
    let suite = !model.any();
    let configs = if suite {
        default_suite()
    } else {
        match model.to_config() {
            Ok(c) => vec![c],
            Err(e) => return usage_error(&e),
        }
    };
    // A run with a catalogued bug wants its counterexample, not the rest.
    let with_bug = configs.iter().any(|c| !c.bugs.is_empty());
    let bug_strategy = configs
        .iter()
        .flat_map(|c| c.bugs.iter())
        .next()
        .map(|&b| bugs::checked(b).bounds.strategy);
    let opts = match checker.to_options(with_bug, bug_strategy) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let format = match checker.trace_format() {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    if checker.trace_format.is_some() && checker.trace_out.is_none() {
        return usage_error("--trace-format needs --trace-out FILE");
    }
    // Fail before the search, not after it, when the file cannot be written.
    let trace_out_existed = checker.trace_out.as_deref().is_some_and(Path::exists);
    if let Some(path) = &checker.trace_out {
        if let Err(e) = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
        {
            return usage_error(&format!("cannot write {}: {e}", path.display()));
        }
    }
    if opts.strategy == Strategy::Bfs && opts.symmetry && checker.strategy.is_some() {
        eprintln!("note: symmetry reduction has no effect under bfs; exploring without it");
    }
    if checker.shortest && bug_strategy == Some("simulation") {
        eprintln!(
            "note: this bug's counterexample lies beyond the reach of breadth-first search \
             (its bounds use --strategy simulation); --shortest will likely stop at a limit"
        );
    }
    let mut runs: Vec<RunResult> = Vec::new();
    for cfg in &configs {
        eprintln!("checking {} ({})", cfg.describe(), search_text(&opts));
        match run(cfg, &opts) {
            Ok(r) => runs.push(r),
            Err(e) => {
                eprintln!("kraftwerk: error: {e}");
                return EXIT_CHECKER;
            }
        }
    }
    print!("{}", report::table(&runs));
    if checker.json {
        println!("{}", report::json_line(&runs, suite));
    }
    if let Some(path) = &checker.trace_out {
        if let Err(e) = write_trace(&runs, path, format, trace_out_existed) {
            eprintln!("kraftwerk: error: {e}");
            return EXIT_USAGE;
        }
    }
    if runs.iter().any(|r| r.any_violated()) {
        EXIT_VIOLATED
    } else if runs.iter().any(|r| r.any_not_found()) {
        EXIT_NOT_FOUND
    } else {
        EXIT_OK
    }
}

/// `dfs, 2 threads, symmetry, memory limit 11.8 GiB` (with the kraftwerk
/// engine: `dfs, 2 threads, kraftwerk engine, symmetry, protocol view, ...`).
fn search_text(opts: &CheckOptions) -> String {
    use crate::limits::{bytes_text, thousands};
    let mut parts = vec![
        opts.strategy.name().to_string(),
        match opts.threads {
            1 => "1 thread".to_string(),
            n => format!("{n} threads"),
        },
    ];
    let exhaustive = opts.strategy != Strategy::Simulation;
    let kw = opts.engine == Engine::Kraftwerk && exhaustive;
    if kw {
        parts.push("kraftwerk engine".into());
    }
    if opts.symmetry && (opts.strategy == Strategy::Dfs || kw) {
        parts.push("symmetry".into());
    }
    if kw && opts.view == View::Protocol {
        parts.push("protocol view".into());
    }
    if kw && opts.sleep_sets {
        parts.push("sleep sets".into());
    }
    if let Some(n) = opts.max_states {
        parts.push(format!("state limit {}", thousands(n as u64)));
    }
    if let Some(t) = opts.time_limit {
        parts.push(format!("time limit {} s", t.as_secs()));
    }
    if let Some(m) = opts.memory_limit {
        parts.push(format!("memory limit {}", bytes_text(m)));
    }
    parts.join(", ")
}

/// Writes the first violated property's counterexample (runs in order,
/// properties in model order) to `path`. With none, writes nothing and
/// removes the file if this run created it.
fn write_trace(
    runs: &[RunResult],
    path: &Path,
    format: TraceFormat,
    existed: bool,
) -> Result<(), String> {
    let first = runs.iter().find_map(|r| {
        r.properties
            .iter()
            .find(|p| p.status == Status::Violated && p.trace.is_some())
            .map(|p| (r, p))
    });
    let Some((r, p)) = first else {
        if !existed {
            let _ = std::fs::remove_file(path);
        }
        eprintln!(
            "note: no property violated; no trace written to {}",
            path.display()
        );
        return Ok(());
    };
    let trace = p.trace.as_ref().expect("checked above");
    let doc = match format {
        TraceFormat::Json => trace.to_json_doc(p.name, &r.config),
        TraceFormat::Itf => trace.to_itf(
            &r.protocol,
            &format!("counterexample to {} in {}", p.name, r.config),
        ),
    };
    let text = serde_json::to_string_pretty(&doc).expect("JSON of plain data");
    std::fs::write(path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!(
        "trace of {} ({} steps) written to {}",
        p.name,
        trace.steps.len(),
        path.display()
    );
    Ok(())
}

fn explore(model: &ModelFlags, addr: &str) -> i32 {
    match model.to_config() {
        Ok(cfg) => crate::explore::explore(&cfg, addr),
        Err(e) => usage_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configurations_args_parse_back_to_it() {
        let mut configs = default_suite();
        let mut bugged = ModelConfig::default_raft();
        bugged
            .bugs
            .insert(kraftwerk_specs::bugs::Bug::CommitPreviousTerm);
        configs.push(bugged);
        configs.push(ModelConfig {
            pre_vote: true,
            observers: 1,
            lossy: true,
            ..ModelConfig::default_kraft()
        });
        for cfg in configs {
            let args = cfg.args();
            let cli = Cli::try_parse_from(
                ["kraftwerk", "check"]
                    .into_iter()
                    .map(String::from)
                    .chain(args.iter().cloned()),
            )
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let Command::Check { model, .. } = cli.command else {
                panic!("not a check");
            };
            assert_eq!(model.to_config(), Ok(cfg), "{args:?}");
        }
    }
}
