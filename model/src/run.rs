//! Runs the checker on one configuration and collects what the command line
//! reports: property statuses with traces, state counts, depth, time, and
//! whether the search was complete.

use crate::config::ModelConfig;
pub use crate::engine::kw::View;
use crate::limits::{thousands, Control, Guarded, Limits, STOP_PROPERTY};
use crate::model::build;
use crate::trace::{render_trace, Trace};
use serde::Serialize;
use stateright::{Checker, Expectation, HasDiscoveries, Model};
use std::io::Write;
use std::time::{Duration, Instant};

/// The search strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Breadth-first: shortest counterexamples; stateright's ignores
    /// symmetry, the kraftwerk engine's uses it.
    Bfs,
    /// Depth-first: keeps only fingerprints; uses symmetry.
    Dfs,
    /// Random walks: for models too large to exhaust; never complete.
    Simulation,
}

impl Strategy {
    /// The name as on the command line: `bfs`, `dfs`, `simulation`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Bfs => "bfs",
            Strategy::Dfs => "dfs",
            Strategy::Simulation => "simulation",
        }
    }
}

/// Which checker runs a depth-first search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Kraftwerk's own engine ([`crate::engine`]); its symmetry is a
    /// canonical form, so it counts fewer states than stateright with it.
    Kraftwerk,
    /// stateright's checkers, the reference.
    Stateright,
}

/// How to search.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The checker of an exhaustive search (simulation is the project's
    /// random walks either way).
    pub engine: Engine,
    /// Worker threads.
    pub threads: usize,
    /// The strategy.
    pub strategy: Strategy,
    /// Stop exploring below this depth (makes the search incomplete).
    pub depth: Option<usize>,
    /// Symmetry reduction over server ids (effective under DFS only).
    pub symmetry: bool,
    /// Stop at the first violated "always" property.
    pub stop_on_violation: bool,
    /// Stop after this many generated states (always set for simulation).
    pub max_states: Option<usize>,
    /// Stop after this much wall time.
    pub time_limit: Option<Duration>,
    /// Stop once the process's resident memory reaches this many bytes.
    pub memory_limit: Option<u64>,
    /// Print progress lines on stderr.
    pub progress: bool,
    /// Seed of the simulation strategy.
    pub seed: u64,
    /// What of a state the kraftwerk engine tells states apart by
    /// (stateright's engine counts its whole state). The default here is
    /// stateright's view, so that counts compare; the command line's is
    /// [`View::Protocol`].
    pub view: View,
    /// Partial-order reduction by sleep sets in the kraftwerk engine
    /// (prunes transitions, never states).
    pub sleep_sets: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            engine: Engine::Stateright,
            threads: 1,
            strategy: Strategy::Dfs,
            depth: None,
            symmetry: true,
            stop_on_violation: false,
            max_states: None,
            time_limit: None,
            memory_limit: None,
            progress: false,
            seed: 0,
            view: View::Stateright,
            sleep_sets: false,
        }
    }
}

/// The outcome of one property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    /// An "always" property with no counterexample.
    #[serde(rename = "holds")]
    Holds,
    /// An "always" property with a counterexample.
    #[serde(rename = "VIOLATED")]
    Violated,
    /// A "sometimes" property with an example.
    #[serde(rename = "found")]
    Found,
    /// A "sometimes" property never reached.
    #[serde(rename = "NOT FOUND")]
    NotFound,
    /// No discovery, and the search was cut short (by a limit, a depth
    /// bound, random walks or the first violation): the property was not
    /// checked to the end, so neither `holds` nor `NOT FOUND` is known.
    #[serde(rename = "unknown")]
    Unknown,
}

impl Status {
    /// The word printed in the table.
    pub fn word(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Violated => "VIOLATED",
            Status::Found => "found",
            Status::NotFound => "NOT FOUND",
            Status::Unknown => "unknown",
        }
    }
}

/// One property's result.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyResult {
    /// Its name.
    pub name: &'static str,
    /// `always` or `sometimes`.
    pub expectation: &'static str,
    /// What the search found.
    pub status: Status,
    /// The counterexample (violated) or example (found).
    pub trace: Option<Trace>,
}

/// The result of checking one configuration.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// `raft` or `kraft`.
    pub protocol: String,
    /// Membership change mode.
    pub reconfig: String,
    /// Number of servers.
    pub servers: usize,
    /// The whole configuration in one line.
    pub config: String,
    /// The strategy used.
    pub strategy: Strategy,
    /// True when every reachable state within the bounds was explored.
    pub complete: bool,
    /// Why the search is not complete, when it is not.
    pub cut: Option<String>,
    /// Distinct states (after symmetry reduction).
    pub unique_states: usize,
    /// States generated, repeats included.
    pub states: usize,
    /// The deepest path explored.
    pub max_depth: usize,
    /// Wall time.
    pub elapsed_ms: u128,
    /// Per property, in model order.
    pub properties: Vec<PropertyResult>,
}

impl RunResult {
    /// True when an "always" property was violated.
    pub fn any_violated(&self) -> bool {
        self.properties.iter().any(|p| p.status == Status::Violated)
    }

    /// True when a "sometimes" property was never reached.
    pub fn any_not_found(&self) -> bool {
        self.properties.iter().any(|p| p.status == Status::NotFound)
    }

    /// How many properties were not checked to the end.
    pub fn unknown_count(&self) -> usize {
        self.properties
            .iter()
            .filter(|p| p.status == Status::Unknown)
            .count()
    }
}

/// Waits for the checker, printing progress and stopping it through
/// `control` once a time or memory limit is exceeded.
fn drive<C: Checker<Guarded>>(
    checker: C,
    opts: &CheckOptions,
    started: Instant,
    control: &Control,
    limits: &Limits,
) -> C {
    let mut last_print = Instant::now();
    let mut last_states = 0usize;
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(50));
        if !control.is_stopped() {
            if let Some(reason) = limits.exceeded(started) {
                control.stop(reason);
            }
        }
        if opts.progress && last_print.elapsed() >= Duration::from_secs(2) {
            let states = checker.state_count();
            let rate = (states - last_states) as f64 / last_print.elapsed().as_secs_f64();
            eprintln!(
                "progress: {:>6.1}s  states {:>13}  unique {:>12}  depth {:>4}  {:>9} states/s",
                started.elapsed().as_secs_f64(),
                thousands(states as u64),
                thousands(checker.unique_state_count() as u64),
                checker.max_depth(),
                thousands(rate as u64)
            );
            let _ = std::io::stderr().flush();
            last_print = Instant::now();
            last_states = states;
        }
    }
    checker.join()
}

/// Checks `cfg` with `opts`.
pub fn run(cfg: &ModelConfig, opts: &CheckOptions) -> Result<RunResult, String> {
    let model = build(cfg);
    let properties = model.properties();
    let max_states = match (opts.strategy, opts.max_states) {
        (Strategy::Simulation, None) => Some(5_000_000),
        (_, m) => m,
    };
    let control = Control::new(max_states.filter(|_| opts.strategy != Strategy::Simulation));
    let limits = Limits {
        time: opts.time_limit,
        memory_bytes: opts.memory_limit,
    };
    let guarded = Guarded::new(model.clone(), control.clone())?;
    let finish_when = if opts.stop_on_violation {
        HasDiscoveries::AnyOf(guarded.failure_names())
    } else {
        // Not stateright's default (stop once every property has a
        // discovery): a search that ends is then always exhaustive.
        HasDiscoveries::AnyOf([STOP_PROPERTY].into_iter().collect())
    };
    let mut builder = guarded
        .checker()
        .threads(opts.threads.max(1))
        .finish_when(finish_when);
    if let Some(d) = opts.depth {
        builder = builder.target_max_depth(d);
    }
    if opts.symmetry && opts.strategy == Strategy::Dfs {
        builder = builder.symmetry();
    }
    let started = Instant::now();
    let (unique, states, max_depth, discoveries) = match opts.strategy {
        Strategy::Dfs | Strategy::Bfs if opts.engine == Engine::Kraftwerk => {
            crate::engine::kw::run_dfs(&model, opts, started, &control, &limits)
        }
        Strategy::Bfs => collect(
            drive(builder.spawn_bfs(), opts, started, &control, &limits),
            &control,
        ),
        Strategy::Dfs => collect(
            drive(builder.spawn_dfs(), opts, started, &control, &limits),
            &control,
        ),
        Strategy::Simulation => {
            let w = crate::walk::random_walks(
                &model,
                opts.seed,
                max_states.unwrap_or(1_000_000),
                opts.stop_on_violation,
                |states, unique, depth| {
                    if opts.progress {
                        eprintln!(
                            "progress: {:>6.1}s  states {:>13}  unique {:>12}  depth {:>4}  (random walks)",
                            started.elapsed().as_secs_f64(),
                            thousands(states as u64),
                            thousands(unique as u64),
                            depth
                        );
                    }
                },
                || match limits.exceeded(started) {
                    Some(reason) => {
                        control.stop(reason);
                        true
                    }
                    None => false,
                },
            );
            let mut d = w.discoveries;
            d.sort_by_key(|(n, _)| *n);
            Ok((w.unique, w.states, w.max_depth, d))
        }
    }?;
    let elapsed_ms = started.elapsed().as_millis();

    let found = |name: &str| discoveries.iter().find(|(n, _)| *n == name);
    let violated = properties
        .iter()
        .any(|p| p.expectation.discovery_is_failure() && found(p.name).is_some());
    let cut = if let Some(reason) = control.reason() {
        Some(reason)
    } else if opts.strategy == Strategy::Simulation {
        Some("simulation (random walks) never proves absence".to_string())
    } else if opts.depth.is_some_and(|d| max_depth >= d) {
        Some(format!("depth limit {} reached", opts.depth.unwrap_or(0)))
    } else if opts.stop_on_violation && violated {
        Some("stopped at the first violation".to_string())
    } else {
        None
    };
    let complete = cut.is_none();

    let mut results = Vec::new();
    for p in &properties {
        let found = found(p.name);
        let expectation = match p.expectation {
            Expectation::Always => "always",
            Expectation::Sometimes => "sometimes",
            Expectation::Eventually => "eventually",
        };
        let status = match (&p.expectation, found.is_some(), complete) {
            (Expectation::Sometimes, true, _) => Status::Found,
            (_, true, _) => Status::Violated,
            (Expectation::Sometimes, false, true) => Status::NotFound,
            (_, false, true) => Status::Holds,
            (_, false, false) => Status::Unknown,
        };
        results.push(PropertyResult {
            name: p.name,
            expectation,
            status,
            trace: found.map(|(_, path)| render_trace(&model, path.clone())),
        });
    }

    Ok(RunResult {
        protocol: cfg.protocol.to_string(),
        reconfig: cfg.reconfig.name().to_string(),
        servers: cfg.servers,
        config: cfg.describe(),
        strategy: opts.strategy,
        complete,
        cut,
        unique_states: unique,
        states,
        max_depth,
        elapsed_ms,
        properties: results,
    })
}

/// Each discovery's property name and path, sorted by name.
pub type Discoveries = Vec<(
    &'static str,
    stateright::Path<crate::model::KwState, <Guarded as Model>::Action>,
)>;

/// Counts and discoveries of a finished checker. stateright 0.31's
/// simulation checker can panic while rebuilding a discovery's path from
/// action indices; that panic becomes an error, never a crash.
fn collect<C: Checker<Guarded>>(
    c: C,
    control: &Control,
) -> Result<(usize, usize, usize, Discoveries), String> {
    // The paths are rebuilt by replaying the recorded actions.
    control.replay();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.discoveries()));
    std::panic::set_hook(hook);
    let mut d: Discoveries = found
        .map_err(|_| {
            "stateright could not rebuild the path of a discovery (a limitation of its \
             simulation checker); rerun with --strategy dfs or bfs"
                .to_string()
        })?
        .into_iter()
        .filter(|(name, _)| *name != STOP_PROPERTY)
        .collect();
    d.sort_by_key(|(n, _)| *n);
    Ok((c.unique_state_count(), c.state_count(), c.max_depth(), d))
}
