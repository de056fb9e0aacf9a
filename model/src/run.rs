//! Runs the checker on one configuration and collects what the command line
//! reports: property statuses with traces, state counts, depth, time, and
//! whether the search was complete.

use crate::config::ModelConfig;
use crate::model::{build, KwModel};
use crate::trace::{render_trace, Trace};
use serde::Serialize;
use stateright::{Checker, Expectation, HasDiscoveries, Model};
use std::io::Write;
use std::time::{Duration, Instant};

/// The search strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Breadth-first: shortest counterexamples; ignores symmetry.
    Bfs,
    /// Depth-first: keeps only fingerprints; uses symmetry.
    Dfs,
    /// Random walks: for models too large to exhaust; never complete.
    Simulation,
}

/// Which exhaustive checker runs a depth-first search.
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
    /// The checker of a depth-first search (breadth-first search and
    /// simulation are stateright's and the project's walks either way).
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
    /// Print progress lines on stderr.
    pub progress: bool,
    /// Seed of the simulation strategy.
    pub seed: u64,
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
            progress: false,
            seed: 0,
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
}

impl Status {
    /// The word printed in the table.
    pub fn word(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Violated => "VIOLATED",
            Status::Found => "found",
            Status::NotFound => "NOT FOUND",
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
}

fn drive<C: Checker<KwModel>>(checker: C, opts: &CheckOptions, started: Instant) -> C {
    let mut last_print = Instant::now();
    let mut last_states = 0usize;
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(50));
        if opts.progress && last_print.elapsed() >= Duration::from_secs(2) {
            let states = checker.state_count();
            let rate = (states - last_states) as f64 / last_print.elapsed().as_secs_f64();
            eprintln!(
                "progress: {:>6.1}s  states {:>12}  unique {:>11}  depth {:>4}  {:>9.0} states/s",
                started.elapsed().as_secs_f64(),
                states,
                checker.unique_state_count(),
                checker.max_depth(),
                rate
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
    let mut builder = model.clone().checker().threads(opts.threads.max(1));
    if let Some(d) = opts.depth {
        builder = builder.target_max_depth(d);
    }
    let max_states = match (opts.strategy, opts.max_states) {
        (Strategy::Simulation, None) => Some(5_000_000),
        (_, m) => m,
    };
    if let Some(n) = max_states {
        builder = builder.target_state_count(n);
    }
    if opts.stop_on_violation {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    if opts.symmetry && opts.strategy == Strategy::Dfs {
        builder = builder.symmetry();
    }
    let started = Instant::now();
    let mut engine_cut = None;
    let (unique, states, max_depth, discoveries) = match opts.strategy {
        Strategy::Dfs if opts.engine == Engine::Kraftwerk => {
            let (counts, cut) = crate::engine::kw::run_dfs(&model, opts, started)?;
            engine_cut = Some(cut);
            Ok(counts)
        }
        Strategy::Bfs => collect(drive(builder.spawn_bfs(), opts, started)),
        Strategy::Dfs => collect(drive(builder.spawn_dfs(), opts, started)),
        Strategy::Simulation => {
            let w = crate::walk::random_walks(
                &build(cfg),
                opts.seed,
                max_states.unwrap_or(1_000_000),
                opts.stop_on_violation,
                |states, unique, depth| {
                    if opts.progress {
                        eprintln!(
                            "progress: {:>6.1}s  states {:>12}  unique {:>11}  depth {:>4}  (random walks)",
                            started.elapsed().as_secs_f64(),
                            states,
                            unique,
                            depth
                        );
                    }
                },
            );
            let mut d = w.discoveries;
            d.sort_by_key(|(n, _)| *n);
            Ok((w.unique, w.states, w.max_depth, d))
        }
    }?;
    let elapsed_ms = started.elapsed().as_millis();

    let mut results = Vec::new();
    for p in &properties {
        let found = discoveries.iter().find(|(n, _)| *n == p.name);
        let (expectation, status) = match (&p.expectation, found.is_some()) {
            (Expectation::Always, false) => ("always", Status::Holds),
            (Expectation::Always, true) => ("always", Status::Violated),
            (Expectation::Sometimes, true) => ("sometimes", Status::Found),
            (Expectation::Sometimes, false) => ("sometimes", Status::NotFound),
            (Expectation::Eventually, false) => ("eventually", Status::Holds),
            (Expectation::Eventually, true) => ("eventually", Status::Violated),
        };
        results.push(PropertyResult {
            name: p.name,
            expectation,
            status,
            trace: found.map(|(_, path)| render_trace(&model, path.clone())),
        });
    }

    let stopped_early =
        opts.stop_on_violation && results.iter().any(|r| r.status == Status::Violated);
    let cut = if let Some(cut) = engine_cut {
        cut
    } else if opts.strategy == Strategy::Simulation {
        Some("simulation (random walks) never proves absence".to_string())
    } else if max_states.is_some_and(|n| states >= n) {
        Some(format!("state limit {} reached", max_states.unwrap_or(0)))
    } else if opts.depth.is_some_and(|d| max_depth >= d) {
        Some(format!("depth limit {} reached", opts.depth.unwrap_or(0)))
    } else if stopped_early {
        Some("stopped at the first violation".to_string())
    } else if results
        .iter()
        .all(|r| r.status != Status::Holds && r.status != Status::NotFound)
    {
        // stateright stops once every property has a discovery.
        Some("stopped once every property had a discovery".to_string())
    } else {
        None
    };

    Ok(RunResult {
        protocol: cfg.protocol.to_string(),
        reconfig: cfg.reconfig.name().to_string(),
        servers: cfg.servers,
        config: cfg.describe(),
        strategy: opts.strategy,
        complete: cut.is_none(),
        cut,
        unique_states: unique,
        states,
        max_depth,
        elapsed_ms,
        properties: results,
    })
}

/// A property's discovery path, by property name.
pub type Discoveries = Vec<(
    &'static str,
    stateright::Path<crate::model::KwState, <KwModel as Model>::Action>,
)>;

/// Counts and discoveries of a finished checker. stateright 0.31's
/// simulation checker can panic while rebuilding a discovery's path from
/// action indices; that panic becomes an error, never a crash.
fn collect<C: Checker<KwModel>>(c: C) -> Result<(usize, usize, usize, Discoveries), String> {
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
        .collect();
    d.sort_by_key(|(n, _)| *n);
    Ok((c.unique_state_count(), c.state_count(), c.max_depth(), d))
}
