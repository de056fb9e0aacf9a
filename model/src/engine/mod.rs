//! Kraftwerk's own exhaustive search engine over stateright's [`Model`]
//! trait (`--engine kraftwerk`). stateright's checkers stay available as the
//! reference it is cross-checked against (`--engine stateright`).
//!
//! Semantics are those of stateright 0.31's depth-first checker (and, with
//! [`Options::bfs`], of its breadth-first one):
//!
//! - initial states outside the boundary are dropped; every other initial
//!   state is explored;
//! - a successor for which `next_state` returns `None` does not exist; a
//!   successor outside `within_boundary` is not counted, not explored, and
//!   its properties are not evaluated;
//! - states are deduplicated by a 64-bit fingerprint of the state (under
//!   symmetry: of its canonical form), and the search continues from the
//!   state as generated, so that every path it reports is a real path;
//! - properties are evaluated on every state when it is popped: an
//!   "always" property that fails, or a "sometimes" property that holds, is
//!   a discovery. The search is exhaustive unless a limit stops it (as
//!   `run`'s `Guarded` model makes stateright's search): it does not end
//!   once every property has a discovery;
//! - `Eventually` properties are refused (stateright's are unsound on
//!   cyclic behaviours, REFERENCE.md).
//!
//! Counts: `states` counts initial states and generated successors within
//! the boundary, duplicates included; `unique` counts distinct fingerprints;
//! `max_depth` is the longest path popped, counting the initial state as 1.
//! With one thread the search visits states in exactly stateright's order
//! (a stack, successors pushed in action order, popped last-first), so even
//! an order-dependent symmetry (stateright's `Representative`, which is not
//! a canonical form for this model) gives stateright's numbers. With more
//! threads the unique count is exact and deterministic whenever the
//! fingerprint is a function of the symmetry class (no symmetry, or
//! [`kw::Canonical`]) and the model is symmetric (renaming a state renames
//! its successors; `model/tests/engine.rs` tests it).
//!
//! Breadth-first search goes level by level, so the first discovery of a
//! property is at the smallest depth. Unlike stateright's, it keeps the
//! first discovery: stateright 0.31 replaces a discovery by every later one
//! until the end of its block of 1,500 states, which made its "shortest"
//! counterexample of joint-skip-old-majority 9 steps where 6 suffice.
//!
//! Paths: each pending state carries a shared linked list of action indices
//! (one small allocation per new state, nothing per duplicate), and a
//! discovery is rebuilt by replaying the indices from the initial state.

pub mod bench;
pub mod fpset;
pub mod kw;

use fpset::FpSet;
use stateright::{Expectation, Model, Path};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// States popped between two checks of the stop conditions (stateright's
/// block size, so that a stop at the first violation matches its counts
/// on one thread).
pub const BLOCK: usize = 1500;

/// How often the caller's poll runs.
pub const POLL: Duration = Duration::from_millis(50);

/// How states are identified: the fingerprint under which a state is
/// deduplicated.
pub trait Fingerprint<S>: Sync {
    /// The state's 64-bit fingerprint.
    fn fingerprint(&self, state: &S) -> u64;

    /// The fingerprint and the [`Frame`] that maps the state's ids onto
    /// those of the form it was fingerprinted in (sleep sets store actions
    /// in that form).
    fn framed(&self, state: &S) -> (u64, Frame) {
        (self.fingerprint(state), Frame::Identity)
    }
}

/// How a state's ids map onto its fingerprinted form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The state is its own form (no symmetry, or the identity renaming).
    Identity,
    /// The server at old index `i` goes to `keys[i]`.
    Keys(Vec<usize>),
    /// More than one renaming gives the form (it has a non-trivial
    /// automorphism): actions cannot be named in it, so such a state keeps
    /// no sleep set.
    Ambiguous,
}

/// Which actions commute, for partial-order reduction by sleep sets
/// (Godefroid 1996, ch. 5, with state caching: a state revisited with a
/// smaller sleep set explores what it slept through the first time).
///
/// Two actions with disjoint footprints must commute wherever both are
/// enabled: either order gives the same state (up to the fingerprint), and
/// neither enables, disables or moves out of the boundary the other. Sleep
/// sets then prune transitions only, never states: every reachable state
/// is visited and every property evaluated on it.
pub trait Independence<M: Model>: Sync {
    /// The resources `action` reads or writes, as bits (`u64::MAX`:
    /// everything).
    fn footprint(&self, action: &M::Action) -> u64;
    /// A name of `action` that does not depend on the state it is taken
    /// in, with ids renamed by `frame` (never [`Frame::Ambiguous`]).
    fn action_id(&self, frame: &Frame, action: &M::Action) -> u64;
}

/// The fixed-seed hasher of the engine's fingerprints.
pub fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

/// A fingerprint of any hashable value.
pub fn fingerprint<T: Hash + ?Sized>(value: &T) -> u64 {
    hasher().hash_one(value)
}

/// No symmetry: the state's own fingerprint.
pub struct Plain;

impl<S: Hash> Fingerprint<S> for Plain {
    fn fingerprint(&self, state: &S) -> u64 {
        fingerprint(state)
    }
}

/// stateright's symmetry (`CheckerBuilder::symmetry`): the fingerprint of
/// the state's `Representative`. Not a canonical form for every model (it
/// is not for this one): counts then depend on the search order.
pub struct ViaRepresentative;

impl<S: Hash + stateright::Representative> Fingerprint<S> for ViaRepresentative {
    fn fingerprint(&self, state: &S) -> u64 {
        fingerprint(&state.representative())
    }

    fn framed(&self, state: &S) -> (u64, Frame) {
        (self.fingerprint(state), Frame::Ambiguous)
    }
}

/// How to search.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Stop once this many states were generated (exact: the state that
    /// would exceed it is neither counted nor kept).
    pub max_states: Option<usize>,
    /// Do not evaluate or expand states at this depth or deeper
    /// (stateright's `target_max_depth`).
    pub max_depth: Option<usize>,
    /// Stop at the first violated "always" property.
    pub stop_on_violation: bool,
    /// Breadth-first instead of depth-first: level by level (with several
    /// threads each level is split between them), so that the first
    /// discovery of a property is at the smallest depth, and its path is a
    /// shortest one. On one thread the order is stateright's BFS order.
    pub bfs: bool,
    /// Push each state's new successors in a shuffled order (seeded by
    /// this value and the state), for tests that a count does not depend
    /// on the search order. `None`: stateright's order.
    pub shuffle: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: 1,
            max_states: None,
            max_depth: None,
            stop_on_violation: false,
            bfs: false,
            shuffle: None,
        }
    }
}

/// Why a search ended before exhausting the state space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    /// `max_states` reached.
    StateLimit(usize),
    /// Some state at the depth limit was not expanded.
    DepthLimit(usize),
    /// An "always" property failed and `stop_on_violation` was set.
    Violation,
    /// The caller's poll asked to stop (a time or memory limit), with its
    /// reason.
    Stopped(String),
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cut::StateLimit(n) => write!(f, "state limit {n} reached"),
            Cut::DepthLimit(d) => write!(f, "depth limit {d} reached"),
            Cut::Violation => write!(f, "stopped at the first violation"),
            Cut::Stopped(reason) => write!(f, "{reason}"),
        }
    }
}

/// Counters the workers update, readable while the search runs.
#[derive(Default)]
pub struct Stats {
    /// Generated states, repeats included.
    pub states: AtomicUsize,
    /// Distinct fingerprints.
    pub unique: AtomicUsize,
    /// Deepest popped state (initial state = 1).
    pub max_depth: AtomicUsize,
}

/// A property's name and the path to the state that discovered it.
pub type Discovery<M> = (
    &'static str,
    Path<<M as Model>::State, <M as Model>::Action>,
);

/// What a search found.
pub struct Report<M: Model> {
    /// Distinct states (after symmetry reduction).
    pub unique: usize,
    /// Generated states, repeats included.
    pub states: usize,
    /// The deepest path explored (initial state = 1, as stateright counts).
    pub max_depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// `None` when the search was exhaustive.
    pub cut: Option<Cut>,
    /// One path per property with a discovery, in property order.
    pub discoveries: Vec<Discovery<M>>,
    /// Bytes held by the fingerprint set at the end.
    pub set_bytes: usize,
}

/// A path as action indices: a shared linked list, newest index first.
struct Trail {
    index: u32,
    parent: Option<Arc<Trail>>,
}

impl Trail {
    /// Indices from the initial state's index on.
    fn indices(self: &Arc<Trail>) -> Vec<usize> {
        let mut v = Vec::new();
        let mut t = Some(self);
        while let Some(x) = t {
            v.push(x.index as usize);
            t = x.parent.as_ref();
        }
        v.reverse();
        v
    }
}

/// A list of pending states.
type Jobs<M> = Vec<Job<<M as Model>::State, <M as Model>::Action>>;

struct Job<S, A> {
    state: S,
    trail: Arc<Trail>,
    depth: usize,
    /// Sleep set: actions (with their footprints) not to take here.
    sleep: Vec<(A, u64)>,
    /// A revisit: explore only the actions so named (in `frame`); its
    /// properties were evaluated at the first visit.
    only: Option<Box<[u64]>>,
    frame: Frame,
}

/// The sleep sets of visited states, by fingerprint, as action names in
/// the state's frame; a state whose sleep set is empty has no entry. The
/// stripe lock is held over the visited-set insert and the update, so that
/// a revisit never misses a first visit's sleep set.
struct Sleeps {
    stripes: Vec<Mutex<ahash::AHashMap<u64, Box<[u64]>>>>,
}

impl Sleeps {
    fn new() -> Sleeps {
        Sleeps {
            stripes: (0..256).map(|_| Mutex::new(Default::default())).collect(),
        }
    }
}

/// What to do with a generated successor under sleep sets.
enum Visit {
    /// First visit: explore it with its sleep set.
    New,
    /// Revisit: explore these actions (the stored sleep set minus the new
    /// one).
    Again(Box<[u64]>),
    /// Nothing new to explore.
    Skip,
}

/// State shared by the workers.
struct Shared<'a, M: Model, F> {
    model: &'a M,
    fp: &'a F,
    opts: &'a Options,
    properties: Vec<stateright::Property<M>>,
    seen: FpSet,
    stats: &'a Stats,
    discoveries: Mutex<Vec<Option<Arc<Trail>>>>,
    discovered: AtomicUsize,
    failed: AtomicBool,
    stop: AtomicBool,
    cut: Mutex<Option<Cut>>,
    depth_cut: AtomicBool,
    global: Mutex<Global<M::State, M::Action>>,
    por: Option<&'a dyn Independence<M>>,
    sleeps: Sleeps,
    wake: Condvar,
    hungry: AtomicUsize,
}

struct Global<S, A> {
    jobs: Vec<Job<S, A>>,
    idle: usize,
    done: bool,
}

/// Checks `model` exhaustively (depth-first, or breadth-first with
/// [`Options::bfs`]), deduplicating by `fp`. `poll` is called on
/// the calling thread every [`POLL`] while the search runs, with the
/// counters and the time since the start; it returns a reason to stop (a
/// time or memory limit) or `None` to go on.
pub fn check<M, F>(
    model: &M,
    fp: &F,
    por: Option<&dyn Independence<M>>,
    opts: &Options,
    mut poll: impl FnMut(&Stats, Duration) -> Option<String>,
) -> Result<Report<M>, String>
where
    M: Model + Sync,
    M::State: Clone + Hash + PartialEq + Send + Sync,
    M::Action: Clone + PartialEq + Send + Sync,
    F: Fingerprint<M::State>,
{
    let properties = model.properties();
    if let Some(p) = properties
        .iter()
        .find(|p| p.expectation == Expectation::Eventually)
    {
        return Err(format!(
            "the kraftwerk engine does not check 'eventually' properties ({}): stateright's are \
             unsound on cyclic behaviours; use --engine stateright",
            p.name
        ));
    }
    let stats = Stats::default();
    let started = Instant::now();
    let shared = Shared {
        model,
        fp,
        opts,
        discoveries: Mutex::new(vec![None; properties.len()]),
        properties,
        seen: FpSet::new(),
        stats: &stats,
        discovered: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        cut: Mutex::new(None),
        depth_cut: AtomicBool::new(false),
        global: Mutex::new(Global {
            jobs: Vec::new(),
            idle: 0,
            done: false,
        }),
        wake: Condvar::new(),
        hungry: AtomicUsize::new(0),
        por,
        sleeps: Sleeps::new(),
    };
    let threads = opts.threads.max(1);
    let mut first = Vec::new();
    for (i, s) in model.init_states().into_iter().enumerate() {
        if !model.within_boundary(&s) {
            continue;
        }
        if opts
            .max_states
            .is_some_and(|n| stats.states.load(Ordering::Relaxed) >= n)
        {
            *shared.cut.lock().expect("cut") = opts.max_states.map(Cut::StateLimit);
            break;
        }
        shared.seen.insert(fp.fingerprint(&s));
        stats.states.fetch_add(1, Ordering::Relaxed);
        first.push(Job {
            state: s,
            trail: Arc::new(Trail {
                index: i as u32,
                parent: None,
            }),
            depth: 1,
            sleep: Vec::new(),
            only: None,
            frame: Frame::Identity,
        });
    }
    let panicked = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut first = Some(first);
        if opts.bfs {
            let shared = &shared;
            let mut frontier = first.take().unwrap_or_default();
            // stateright pops its initial states last first.
            frontier.reverse();
            handles.push(
                std::thread::Builder::new()
                    .name("kw-engine-bfs".into())
                    .spawn_scoped(scope, move || {
                        let _guard = StopOnPanic(shared);
                        bfs(shared, frontier, threads)
                    })
                    .expect("spawn the breadth-first driver"),
            );
        }
        for t in 0..threads {
            if opts.bfs {
                break;
            }
            let local = if t == 0 {
                first.take().unwrap_or_default()
            } else {
                Vec::new()
            };
            let shared = &shared;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("kw-engine-{t}"))
                    .spawn_scoped(scope, move || {
                        let _guard = StopOnPanic(shared);
                        worker(shared, local, threads)
                    })
                    .expect("spawn a worker thread"),
            );
        }
        let shared = &shared;
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(POLL);
            stats.unique.store(shared.seen.len(), Ordering::Relaxed);
            if shared.stop.load(Ordering::Relaxed) {
                continue;
            }
            if let Some(reason) = poll(&stats, started.elapsed()) {
                record_cut(shared, Cut::Stopped(reason));
                stop_all(shared);
            }
        }
        handles
            .into_iter()
            .map(|h| h.join())
            .find_map(Result::err)
            .map(|payload| panic_message(payload.as_ref()))
    });
    if let Some(message) = panicked {
        return Err(format!("the model panicked during the search: {message}"));
    }
    let elapsed = started.elapsed();
    let mut cut = shared.cut.lock().expect("cut").clone();
    if cut.is_none() && shared.depth_cut.load(Ordering::Relaxed) {
        cut = opts.max_depth.map(Cut::DepthLimit);
    }
    let trails = shared.discoveries.lock().expect("discoveries").clone();
    let mut discoveries = Vec::new();
    for (p, trail) in shared.properties.iter().zip(trails) {
        if let Some(t) = trail {
            discoveries.push((p.name, replay(model, &t.indices())?));
        }
    }
    Ok(Report {
        unique: shared.seen.len(),
        states: stats.states.load(Ordering::Relaxed),
        max_depth: stats.max_depth.load(Ordering::Relaxed),
        elapsed,
        cut,
        discoveries,
        set_bytes: shared.seen.bytes(),
    })
}

/// Rebuilds a path from action indices (the first one picks the initial
/// state), as stateright's `Path::from_action_indices` does.
fn replay<M>(model: &M, indices: &[usize]) -> Result<Path<M::State, M::Action>, String>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    let inits = model.init_states();
    let init = inits
        .get(indices[0])
        .ok_or("a discovery's initial state is gone")?
        .clone();
    let mut state = init.clone();
    let mut taken = Vec::new();
    let mut actions = Vec::new();
    for &i in &indices[1..] {
        actions.clear();
        model.actions(&state, &mut actions);
        let a = actions
            .get(i)
            .ok_or("a discovery's path cannot be replayed (the model is not deterministic)")?
            .clone();
        state = model
            .next_state(&state, a.clone())
            .ok_or("a discovery's path replays to a pruned action")?;
        taken.push(a);
    }
    Path::from_actions(model, init, &taken)
        .ok_or_else(|| "a discovery's path cannot be rebuilt".to_string())
}

fn worker<M, F>(shared: &Shared<'_, M, F>, mut local: Jobs<M>, threads: usize)
where
    M: Model,
    M::Action: Clone + PartialEq + Send + Sync,
    M::State: Clone + Hash,
    F: Fingerprint<M::State>,
{
    let mut actions = Vec::new();
    let mut popped = 0usize;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let job = match local.pop() {
            Some(j) => j,
            None => match take(shared, threads) {
                Some(jobs) => {
                    local = jobs;
                    continue;
                }
                None => return,
            },
        };
        popped += 1;
        if !expand(shared, job, &mut local, &mut actions) {
            return;
        }
        if (popped % BLOCK == 0 || local.is_empty()) && should_stop(shared) {
            stop_all(shared);
            return;
        }
        if threads > 1 && local.len() > 1 && shared.hungry.load(Ordering::Relaxed) > 0 {
            // Give away the oldest half: the shallowest states, whose
            // subtrees are the largest.
            let give: Vec<_> = local.drain(..local.len() / 2).collect();
            let mut g = shared.global.lock().expect("global");
            g.jobs.extend(give);
            drop(g);
            shared.wake.notify_all();
        }
    }
}

/// Breadth-first search, one level at a time: the level is cut into one
/// contiguous chunk per thread, each thread expands its chunk in order, and
/// the next level is the chunks' successors in chunk order (on one thread:
/// a FIFO queue, stateright's order).
fn bfs<M, F>(shared: &Shared<'_, M, F>, mut frontier: Jobs<M>, threads: usize)
where
    M: Model + Sync,
    M::Action: Clone + PartialEq + Send + Sync,
    M::State: Clone + Hash + Send + Sync,
    F: Fingerprint<M::State>,
{
    // One chunk per thread is enough work to share only for large levels.
    const SPLIT_MIN: usize = 64;
    while !frontier.is_empty() {
        let chunks = if threads > 1 && frontier.len() >= SPLIT_MIN {
            threads
        } else {
            1
        };
        let size = frontier.len().div_ceil(chunks);
        let mut parts: Vec<Jobs<M>> = Vec::with_capacity(chunks);
        while frontier.len() > size {
            parts.push(frontier.split_off(frontier.len() - size));
        }
        parts.push(frontier);
        parts.reverse();
        let expand_all = |part: Jobs<M>| -> (Jobs<M>, bool) {
            let mut next = Vec::new();
            let mut actions = Vec::new();
            for (k, job) in part.into_iter().enumerate() {
                if shared.stop.load(Ordering::Relaxed)
                    || !expand(shared, job, &mut next, &mut actions)
                {
                    return (next, false);
                }
                if (k % BLOCK == 0 || shared.opts.stop_on_violation) && should_stop(shared) {
                    stop_all(shared);
                    return (next, false);
                }
            }
            (next, true)
        };
        let results: Vec<(Jobs<M>, bool)> = if parts.len() == 1 {
            parts.into_iter().map(expand_all).collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = parts
                    .into_iter()
                    .map(|part| {
                        scope.spawn(move || {
                            let _guard = StopOnPanic(shared);
                            expand_all(part)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            })
        };
        if results.iter().any(|(_, go_on)| !go_on) {
            return;
        }
        frontier = results.into_iter().flat_map(|(next, _)| next).collect();
    }
}

/// Takes work from the shared pool, waiting for it; `None` when the search
/// is over (everyone idle and the pool empty, or a stop).
fn take<M: Model, F>(shared: &Shared<'_, M, F>, threads: usize) -> Option<Jobs<M>> {
    let mut g = shared.global.lock().expect("global");
    loop {
        if g.done || shared.stop.load(Ordering::Relaxed) {
            return None;
        }
        if !g.jobs.is_empty() {
            let n = g.jobs.len();
            let keep = n / 2;
            return Some(g.jobs.drain(keep..).collect());
        }
        g.idle += 1;
        if g.idle == threads {
            g.done = true;
            drop(g);
            shared.wake.notify_all();
            return None;
        }
        shared.hungry.fetch_add(1, Ordering::Relaxed);
        g = shared.wake.wait(g).expect("global");
        shared.hungry.fetch_sub(1, Ordering::Relaxed);
        g.idle -= 1;
    }
}

fn stop_all<M: Model, F>(shared: &Shared<'_, M, F>) {
    shared.stop.store(true, Ordering::Relaxed);
    // A thread that panicked holding the lock poisons it; the others must
    // still be woken to see the stop.
    let _g = shared
        .global
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    shared.wake.notify_all();
}

/// Held by every search thread: if the thread unwinds (the model panicked
/// in `actions`, `next_state` or a property), it stops the others, which
/// would otherwise wait forever for the work it held.
struct StopOnPanic<'s, 'a, M: Model, F>(&'s Shared<'a, M, F>);

impl<M: Model, F> Drop for StopOnPanic<'_, '_, M, F> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            stop_all(self.0);
        }
    }
}

/// The message of a panic payload (what `panic!` was given).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Records why the search stops (the first reason given wins).
fn record_cut<M: Model, F>(shared: &Shared<'_, M, F>, reason: Cut) {
    let mut c = shared.cut.lock().expect("cut");
    if c.is_none() {
        *c = Some(reason);
    }
}

/// Checks the stop conditions a worker watches; records the first reason.
fn should_stop<M: Model, F>(shared: &Shared<'_, M, F>) -> bool {
    if shared.opts.stop_on_violation && shared.failed.load(Ordering::Relaxed) {
        record_cut(shared, Cut::Violation);
        return true;
    }
    false
}

/// Counts one generated state against the state limit; false (and the
/// search stops) when the limit is reached.
fn count_one<M: Model, F>(shared: &Shared<'_, M, F>, max: usize) -> bool {
    let before = shared.stats.states.fetch_add(1, Ordering::Relaxed);
    if before < max {
        return true;
    }
    shared.stats.states.fetch_sub(1, Ordering::Relaxed);
    record_cut(shared, Cut::StateLimit(max));
    stop_all(shared);
    false
}

/// Evaluates one state's properties and pushes its new successors; false
/// when the state limit stopped the search.
fn expand<M, F>(
    shared: &Shared<'_, M, F>,
    job: Job<M::State, M::Action>,
    local: &mut Jobs<M>,
    actions: &mut Vec<M::Action>,
) -> bool
where
    M: Model,
    M::State: Clone + Hash,
    M::Action: Clone + PartialEq,
    F: Fingerprint<M::State>,
{
    let model = shared.model;
    let stats = shared.stats;
    if job.depth > stats.max_depth.load(Ordering::Relaxed) {
        stats.max_depth.fetch_max(job.depth, Ordering::Relaxed);
    }
    if shared.opts.max_depth.is_some_and(|d| job.depth >= d) {
        shared.depth_cut.store(true, Ordering::Relaxed);
        return true;
    }
    if job.only.is_none() && shared.discovered.load(Ordering::Relaxed) < shared.properties.len() {
        for (i, p) in shared.properties.iter().enumerate() {
            let hit = match p.expectation {
                Expectation::Always => !(p.condition)(model, &job.state),
                Expectation::Sometimes => (p.condition)(model, &job.state),
                Expectation::Eventually => false,
            };
            if hit {
                let mut d = shared.discoveries.lock().expect("discoveries");
                if d[i].is_none() {
                    d[i] = Some(job.trail.clone());
                    shared.discovered.fetch_add(1, Ordering::Relaxed);
                    if p.expectation == Expectation::Always {
                        shared.failed.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    }
    actions.clear();
    model.actions(&job.state, actions);
    let first_new = local.len();
    let mut generated = 0;
    let limit = shared.opts.max_states;
    // Sleep sets: the actions taken here so far, with their footprints.
    let mut taken: Vec<(M::Action, u64)> = Vec::new();
    for (index, action) in actions.drain(..).enumerate() {
        let mut footprint = 0;
        if let Some(por) = shared.por {
            if job.sleep.iter().any(|(a, _)| *a == action) {
                continue;
            }
            if let Some(only) = &job.only {
                if !only.contains(&por.action_id(&job.frame, &action)) {
                    continue;
                }
            }
            footprint = por.footprint(&action);
        }
        let kept = shared.por.map(|_| action.clone());
        let Some(next) = model.next_state(&job.state, action) else {
            continue;
        };
        if !model.within_boundary(&next) {
            continue;
        }
        match limit {
            Some(max) => {
                if !count_one(shared, max) {
                    return false;
                }
            }
            None => generated += 1,
        }
        let (fp, frame) = shared.fp.framed(&next);
        let (sleep, only) = match (shared.por, kept) {
            (Some(por), Some(action)) => {
                let mut sleep: Vec<(M::Action, u64)> = job
                    .sleep
                    .iter()
                    .chain(taken.iter())
                    .filter(|(_, f)| f & footprint == 0)
                    .cloned()
                    .collect();
                taken.push((action, footprint));
                if frame == Frame::Ambiguous {
                    sleep.clear();
                }
                match visit(shared, por, fp, &frame, &sleep) {
                    Visit::New => (sleep, None),
                    Visit::Again(only) => (sleep, Some(only)),
                    Visit::Skip => continue,
                }
            }
            _ => {
                if !shared.seen.insert(fp) {
                    continue;
                }
                (Vec::new(), None)
            }
        };
        local.push(Job {
            state: next,
            trail: Arc::new(Trail {
                index: index as u32,
                parent: Some(job.trail.clone()),
            }),
            depth: job.depth + 1,
            sleep,
            only,
            frame,
        });
    }
    stats.states.fetch_add(generated, Ordering::Relaxed);
    if let Some(seed) = shared.opts.shuffle {
        shuffle(&mut local[first_new..], seed ^ fingerprint(&job.state));
    }
    true
}

/// The visited-set insert and sleep-set update of a successor `fp` reached
/// with sleep set `sleep` (empty when `frame` is ambiguous).
fn visit<M, F>(
    shared: &Shared<'_, M, F>,
    por: &dyn Independence<M>,
    fp: u64,
    frame: &Frame,
    sleep: &[(M::Action, u64)],
) -> Visit
where
    M: Model,
{
    let names = |sleep: &[(M::Action, u64)]| -> Vec<u64> {
        if *frame == Frame::Ambiguous {
            return Vec::new();
        }
        sleep.iter().map(|(a, _)| por.action_id(frame, a)).collect()
    };
    let stripe = &shared.sleeps.stripes[(fp >> 56) as usize];
    let mut map = stripe.lock().expect("sleep sets");
    if shared.seen.insert(fp) {
        if !sleep.is_empty() {
            map.insert(fp, names(sleep).into_boxed_slice());
        }
        return Visit::New;
    }
    let Some(stored) = map.get(&fp) else {
        return Visit::Skip;
    };
    let now = names(sleep);
    let missing: Vec<u64> = stored
        .iter()
        .copied()
        .filter(|x| !now.contains(x))
        .collect();
    if missing.is_empty() {
        return Visit::Skip;
    }
    let kept: Vec<u64> = stored.iter().copied().filter(|x| now.contains(x)).collect();
    if kept.is_empty() {
        map.remove(&fp);
    } else {
        map.insert(fp, kept.into_boxed_slice());
    }
    if *frame == Frame::Ambiguous {
        // Cannot name the actions: explore everything again.
        return Visit::New;
    }
    Visit::Again(missing.into_boxed_slice())
}

/// A deterministic Fisher-Yates shuffle (splitmix64 steps).
fn shuffle<T>(xs: &mut [T], seed: u64) {
    let mut x = seed;
    for i in (1..xs.len()).rev() {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        xs.swap(i, (z % (i as u64 + 1)) as usize);
    }
}
