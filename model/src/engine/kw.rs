//! The engine on Kraftwerk's model: a canonical symmetry fingerprint for
//! [`KwState`] and the adapter that `run` calls for `--engine kraftwerk`.
//!
//! stateright's `Representative` sorts the actors by their state and
//! renames ids accordingly. Actor states contain ids (votes, leaders, the
//! node's own id as the last tie-breaker), so two states of one symmetry
//! class can sort to different representatives: measured on the 3-server,
//! 1-term Raft model, 23,372 of 29,657 states have a permutation whose
//! representative differs from theirs, and the 4,951 classes are counted
//! as 8,610 states by stateright's depth-first search. The count then also
//! depends on the search order, so it cannot be deterministic across
//! threads.
//!
//! [`Canonical`] is a true canonical form: the minimum, over a set of
//! candidate permutations, of the fingerprint of the renamed state.
//!
//! - Each server gets a signature that no renaming changes: it is built
//!   only from id-free fields (class, up or down, timers, terms, role,
//!   commit index, the log's terms and request ids, restarts) and from ids
//!   compared with the server's own (voted for itself, for another, for
//!   nobody).
//! - The candidates are every permutation that sorts the servers by
//!   (class, signature): servers with equal signatures are tried in every
//!   order. If `q` is any symmetry, the candidates of `q(s)` are those of
//!   `s` composed with `q⁻¹`, so both give the same set of renamed states,
//!   and the same minimum: the fingerprint is a function of the class.
//!
//! A first version (branch `engine`, b5ea432) built signatures by renaming
//! every id to one value. That is not invariant: a map keyed by node id
//! (a leader's progress, KRaft's end offsets) collapses to one entry, and
//! which value survives depends on which server had the larger id. Its
//! counts moved with the search order (193,978-194,103 on the default Raft
//! configuration).

use super::{fingerprint, Fingerprint, Frame, Options};
use crate::actor::ActorState;
use crate::actor::Msg;
use crate::model::{build, KwModel, KwState};
use kraftwerk_specs::node::Timer;
use kraftwerk_specs::types::NodeId;
use stateright::actor::{Id, Network};
use stateright::{Rewrite, RewritePlan};

/// The canonical-form fingerprint of a [`KwState`] under the server
/// symmetry classes of [`crate::model::symmetry_classes`].
pub struct Canonical;

/// Whole-state permutation: the server at old index `i` moves to
/// `keys[i]` (a permutation of `0..n`), with every id renamed.
pub fn permute(s: &KwState, keys: &[usize]) -> KwState {
    let plan = RewritePlan::<Id, _>::from_values_to_sort(keys);
    KwState {
        actor_states: plan.reindex(&s.actor_states),
        network: s.network.rewrite(&plan),
        timers_set: plan.reindex(&s.timers_set),
        random_choices: plan.reindex(&s.random_choices),
        crashed: plan.reindex(&s.crashed),
        actor_storages: plan.reindex(&s.actor_storages),
        history: s.history.rewrite(&plan),
    }
}

/// Order-independent combination of hashes (a multiset hash).
fn mix(h: u64) -> u64 {
    let mut z = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where an id points, seen from server `me`: nowhere, at itself, or at
/// another server (which one is not invariant under renaming).
fn relative(x: Option<NodeId>, me: NodeId) -> u8 {
    match x {
        None => 0,
        Some(x) if x == me => 1,
        Some(_) => 2,
    }
}

/// The id-free summary of a log: per entry its term and request id
/// (configuration entries carry ids; only that they are one is kept).
fn log_signature(log: &kraftwerk_specs::log::Log, h: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    for e in log.entries() {
        (e.term, e.request(), e.config().is_some()).hash(h);
    }
}

impl Canonical {
    /// Per server (the actors `0..k` that are servers): (class, signature),
    /// a value that no renaming of ids changes.
    pub fn signatures(s: &KwState) -> Vec<(u8, u64)> {
        use std::hash::{Hash, Hasher};
        s.actor_states
            .iter()
            .enumerate()
            .map_while(|(i, a)| match &**a {
                ActorState::Server(srv) => {
                    let mut h = std::hash::BuildHasher::build_hasher(&super::hasher());
                    let me = srv.node.id();
                    let hard = srv.node.hard();
                    (
                        srv.class,
                        s.crashed[i],
                        &s.timers_set[i],
                        srv.truncated,
                        hard.term,
                        relative(hard.voted_for, me),
                        relative(hard.leader, me),
                        relative(srv.node.known_leader(), me),
                        srv.node.role_name(),
                        srv.node.committed(),
                        srv.node.log().last_index(),
                    )
                        .hash(&mut h);
                    log_signature(srv.node.log(), &mut h);
                    let d = &srv.durable;
                    (
                        d.restarts,
                        d.disk.hard.term,
                        relative(d.disk.hard.voted_for, me),
                        relative(d.disk.hard.leader, me),
                        d.disk.log.last_index(),
                    )
                        .hash(&mut h);
                    if let Some(st) = &s.actor_storages[i] {
                        let sh = st.disk.hard;
                        (
                            st.restarts,
                            sh.term,
                            relative(sh.voted_for, me),
                            relative(sh.leader, me),
                            st.disk.log.last_index(),
                        )
                            .hash(&mut h);
                    }
                    Some((srv.class, h.finish()))
                }
                _ => None,
            })
            .collect()
    }
}

/// Servers sorted by (class, signature): `order[k]` is the old index of
/// the server that goes to position `k`. Returns the tie groups (ranges of
/// positions whose signatures are equal).
fn order_by(sigs: &[(u8, u64)]) -> (Vec<usize>, Vec<std::ops::Range<usize>>) {
    let mut order: Vec<usize> = (0..sigs.len()).collect();
    order.sort_by_key(|&i| sigs[i]);
    let mut ties = Vec::new();
    let mut k = 0;
    while k < order.len() {
        let mut j = k + 1;
        while j < order.len() && sigs[order[j]] == sigs[order[k]] {
            j += 1;
        }
        if j - k > 1 {
            ties.push(k..j);
        }
        k = j;
    }
    (order, ties)
}

/// Every order of `order` that permutes only within the tie groups.
fn candidates(order: &[usize], ties: &[std::ops::Range<usize>]) -> Vec<Vec<usize>> {
    let mut out = vec![order.to_vec()];
    for r in ties {
        let mut next = Vec::new();
        for o in &out {
            for p in permutations(&o[r.clone()]) {
                let mut q = o.clone();
                q[r.clone()].copy_from_slice(&p);
                next.push(q);
            }
        }
        out = next;
    }
    out
}

fn permutations(xs: &[usize]) -> Vec<Vec<usize>> {
    if xs.len() <= 1 {
        return vec![xs.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..xs.len() {
        let mut rest = xs.to_vec();
        let x = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

impl Canonical {
    /// The candidate permutations of `s`, each as `keys` (the server at
    /// old index `i` moves to `keys[i]`; non-servers stay).
    pub fn candidates(s: &KwState) -> Vec<Vec<usize>> {
        let sigs = Canonical::signatures(s);
        let (order, ties) = order_by(&sigs);
        let n = s.actor_states.len();
        candidates(&order, &ties)
            .iter()
            .map(|o| {
                let mut keys: Vec<usize> = (0..n).collect();
                for (k, &i) in o.iter().enumerate() {
                    keys[i] = k;
                }
                keys
            })
            .collect()
    }
}

impl Fingerprint<KwState> for Canonical {
    fn fingerprint(&self, s: &KwState) -> u64 {
        Kw {
            symmetric: true,
            view: View::Stateright,
        }
        .fingerprint(s)
    }
}

/// What of a state the engine tells states apart by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// stateright's whole state, for counts that must equal stateright's.
    Stateright,
    /// The state without stateright's record of the last message delivered
    /// in a duplicating network (`Network::UnorderedDuplicating`'s second
    /// field). No transition, boundary or property reads it: stateright
    /// keeps it so that, in models that count a delivery which changes
    /// nothing, the delivery still makes a new fingerprint; this model
    /// drops such deliveries (`next_state` returns `None`). Two states that
    /// differ only there have the same actions, the same successors (again
    /// up to that field) and the same verdicts, so merging them is exact
    /// for every property. Measured on the default Raft configuration: 7.1x
    /// fewer states (26,753 symmetry classes instead of 190,478).
    Protocol,
}

impl View {
    /// The `--view` spelling.
    pub fn name(self) -> &'static str {
        match self {
            View::Stateright => "stateright",
            View::Protocol => "protocol",
        }
    }
}

/// The engine's fingerprint: of the canonical form (`symmetric`) or of the
/// state itself, under `view`. Without symmetry and under
/// [`View::Stateright`] use [`super::Plain`], which is stateright's.
#[derive(Clone, Copy, Debug)]
pub struct Kw {
    /// Canonical form over the server symmetry classes.
    pub symmetric: bool,
    /// What of the state counts.
    pub view: View,
}

impl Fingerprint<KwState> for Kw {
    fn fingerprint(&self, s: &KwState) -> u64 {
        self.framed(s).0
    }

    fn framed(&self, s: &KwState) -> (u64, Frame) {
        let last = self.view == View::Stateright;
        MEMO.with(|m| {
            let mut m = m.borrow_mut();
            let plain = Plain::of(s);
            if !self.symmetric {
                let keys: Vec<usize> = (0..s.actor_states.len()).collect();
                return (m.fingerprint(s, &plain, &keys, last), Frame::Identity);
            }
            let mut best: Option<(u64, Vec<usize>, bool)> = None;
            for keys in Canonical::candidates(s) {
                let f = m.fingerprint(s, &plain, &keys, last);
                match &mut best {
                    Some((b, _, tied)) if f == *b => *tied = true,
                    Some((b, _, _)) if f > *b => {}
                    _ => best = Some((f, keys, false)),
                }
            }
            let (f, keys, tied) = best.expect("at least one candidate");
            let frame = if tied {
                Frame::Ambiguous
            } else if keys.iter().enumerate().all(|(i, &k)| i == k) {
                Frame::Identity
            } else {
                Frame::Keys(keys)
            };
            (f, frame)
        })
    }
}

/// Which of the model's actions commute ([`super::Independence`]).
///
/// Footprints: a bit per actor, and one for KRaft's ghost record of a high
/// watermark advertised lower than an earlier one (the only part of the
/// ghost history whose update depends on the order of two sends: every
/// other part is a union, a maximum or a minimum).
/// - A delivery to `dst`: `dst`; in a network that counts copies or keeps
///   order, also `src` (its sends add copies of envelopes from `src`, and
///   the boundary allows one copy); a KRaft Fetch (answered by a
///   FetchResponse) also the high-watermark bit.
/// - A drop: `src` and `dst` (a send of the same envelope undoes it).
/// - A timeout: its actor.
/// - A crash or a restart: everything (the crash bound is global).
pub struct Independence {
    duplicating: bool,
    kraft: bool,
}

const HWM_GHOST: u64 = 1 << 63;

impl Independence {
    /// The relation for `model`'s network and protocol.
    pub fn of(model: &KwModel) -> Independence {
        Independence {
            duplicating: matches!(model.init_network, Network::UnorderedDuplicating(..)),
            kraft: model.cfg.protocol == crate::config::Protocol::Kraft,
        }
    }
}

fn bit(id: Id) -> u64 {
    1u64 << (usize::from(id) % 63)
}

impl super::Independence<KwModel> for Independence {
    fn footprint(&self, a: &stateright::actor::ActorModelAction<Msg, Timer, ()>) -> u64 {
        use stateright::actor::ActorModelAction as A;
        match a {
            A::Deliver { src, dst, msg } => {
                let mut f = bit(*dst);
                if !self.duplicating {
                    f |= bit(*src);
                }
                if self.kraft && matches!(msg.0, kraftwerk_specs::message::Message::Fetch(_)) {
                    f |= HWM_GHOST;
                }
                f
            }
            A::Drop(e) => bit(e.src) | bit(e.dst),
            A::Timeout(id, _) => bit(*id),
            A::Crash(_) | A::Recover(_) | A::SelectRandom { .. } => u64::MAX,
        }
    }

    fn action_id(
        &self,
        frame: &Frame,
        a: &stateright::actor::ActorModelAction<Msg, Timer, ()>,
    ) -> u64 {
        use stateright::actor::ActorModelAction as A;
        let keys = match frame {
            Frame::Keys(k) => Some(k),
            Frame::Identity => None,
            Frame::Ambiguous => unreachable!("no action names in an ambiguous frame"),
        };
        let id = |x: &Id| keys.map_or(usize::from(*x), |k| k[usize::from(*x)]);
        let msg = |m: &Msg| match keys {
            None => fingerprint(m),
            Some(k) => fingerprint(&m.rewrite(&RewritePlan::<Id, _>::from_values_to_sort(k))),
        };
        match a {
            A::Deliver { src, dst, msg: m } => fingerprint(&(0u8, id(src), id(dst), msg(m))),
            A::Drop(e) => fingerprint(&(1u8, id(&e.src), id(&e.dst), msg(&e.msg))),
            A::Timeout(x, t) => fingerprint(&(2u8, id(x), t)),
            A::Crash(x) => fingerprint(&(3u8, id(x))),
            A::Recover(x) => fingerprint(&(4u8, id(x))),
            A::SelectRandom { actor, key, .. } => fingerprint(&(5u8, id(actor), key)),
        }
    }
}

/// The fingerprint of `permute(s, keys)` computed without building it:
/// actor states, timers, crash flags and storages in their new places with
/// ids renamed, the history renamed, and the network as an
/// order-independent sum over its renamed envelopes (no set is rebuilt,
/// nothing is sorted). Two states get the same value exactly when their
/// permutations are equal (up to 64-bit collisions).
///
/// Each part's renamed hash is memoised per thread ([`Memo`]): a
/// successor shares most of its parent's actors (the same `Arc`) and
/// envelopes, so most parts are looked up, not renamed again. Unlike
/// stateright's `Hash` of the state, each actor's timer set is hashed with
/// its length, so a timer that moves to a neighbour with no timers changes
/// the fingerprint (stateright's does not: it merges such states).
pub fn permuted_fingerprint(s: &KwState, keys: &[usize]) -> u64 {
    MEMO.with(|m| m.borrow_mut().fingerprint(s, &Plain::of(s), keys, true))
}

/// The plain fingerprints of a state's parts (the keys of [`Memo`]),
/// computed once for every candidate permutation.
struct Plain {
    storages: Vec<u64>,
    history: u64,
    envelopes: Vec<u64>,
}

impl Plain {
    fn of(s: &KwState) -> Plain {
        let envelopes = match &s.network {
            Network::UnorderedDuplicating(set, _) => set.iter().map(fingerprint).collect(),
            Network::UnorderedNonDuplicating(map) => map.iter().map(|x| fingerprint(&x)).collect(),
            Network::Ordered(map) => map.iter().map(|x| fingerprint(&x)).collect(),
        };
        Plain {
            storages: s.actor_storages.iter().map(fingerprint).collect(),
            history: fingerprint(&s.history),
            envelopes,
        }
    }
}

thread_local! {
    static MEMO: std::cell::RefCell<Memo> = std::cell::RefCell::new(Memo::default());
}

/// Per-thread memo of renamed hashes: of actor states by `Arc` address (the
/// map holds the `Arc`, so the address cannot be reused while it is a key),
/// and of other parts by their plain fingerprint. Both are keyed by the
/// permutation too, and cleared when they grow past their bounds. A memo
/// only remembers a pure function: it changes no fingerprint.
#[derive(Default)]
struct Memo {
    actors: ahash::AHashMap<(usize, u64), (std::sync::Arc<ActorState>, u64)>,
    parts: ahash::AHashMap<(u64, u64), u64>,
}

/// Entries a memo keeps before it starts again.
const MEMO_ACTORS_MAX: usize = 1 << 16;
const MEMO_PARTS_MAX: usize = 1 << 20;

impl Memo {
    /// `last`: whether the last delivered envelope counts ([`View`]).
    fn fingerprint(&mut self, s: &KwState, plain: &Plain, keys: &[usize], last: bool) -> u64 {
        use std::hash::{Hash, Hasher};
        if self.actors.len() > MEMO_ACTORS_MAX {
            self.actors.clear();
        }
        if self.parts.len() > MEMO_PARTS_MAX {
            self.parts.clear();
        }
        let n = keys.len();
        // The permutation as one number (base n digits), part of each key.
        let code = keys.iter().fold(0u64, |c, &k| c * n as u64 + k as u64);
        let plan = std::cell::OnceCell::new();
        let plan = || plan.get_or_init(|| RewritePlan::<Id, _>::from_values_to_sort(keys));
        let mut at = vec![0; n];
        for (i, &k) in keys.iter().enumerate() {
            at[k] = i;
        }
        let mut h = std::hash::BuildHasher::build_hasher(&super::hasher());
        for &i in &at {
            let a = &s.actor_states[i];
            let key = (std::sync::Arc::as_ptr(a) as usize, code);
            let ah = match self.actors.get(&key) {
                Some(&(_, x)) => x,
                None => {
                    let x = fingerprint(&a.rewrite(plan()));
                    self.actors.insert(key, (a.clone(), x));
                    x
                }
            };
            h.write_u64(ah);
            let timers = &s.timers_set[i];
            h.write_usize(timers.iter().count());
            timers.hash(&mut h);
            s.crashed[i].hash(&mut h);
            match &s.actor_storages[i] {
                None => h.write_u8(0),
                Some(d) => {
                    h.write_u8(1);
                    let x = self.part(plain.storages[i], code, || fingerprint(&d.rewrite(plan())));
                    h.write_u64(x);
                }
            }
        }
        let history = self.part(plain.history, code, || {
            fingerprint(&s.history.rewrite(plan()))
        });
        h.write_u64(history);
        let id = |x: Id| keys[usize::from(x)];
        let mut net = 0u64;
        match &s.network {
            Network::UnorderedDuplicating(set, delivered) => {
                // The last delivered envelope is part of stateright's state.
                if last {
                    delivered
                        .as_ref()
                        .map(|e| (id(e.src), id(e.dst), e.msg.rewrite(plan())))
                        .hash(&mut h);
                }
                for (e, &p) in set.iter().zip(&plain.envelopes) {
                    net = net.wrapping_add(self.part(p, code, || {
                        mix(fingerprint(&(id(e.src), id(e.dst), e.msg.rewrite(plan()))))
                    }));
                }
            }
            Network::UnorderedNonDuplicating(map) => {
                for ((e, c), &p) in map.iter().zip(&plain.envelopes) {
                    net = net.wrapping_add(self.part(p, code, || {
                        mix(fingerprint(&(
                            id(e.src),
                            id(e.dst),
                            e.msg.rewrite(plan()),
                            c,
                        )))
                    }));
                }
            }
            Network::Ordered(map) => {
                for (((src, dst), q), &p) in map.iter().zip(&plain.envelopes) {
                    net = net.wrapping_add(self.part(p, code, || {
                        let q: Vec<_> = q.iter().map(|m| m.rewrite(plan())).collect();
                        mix(fingerprint(&(id(*src), id(*dst), q)))
                    }));
                }
            }
        }
        net.hash(&mut h);
        h.finish()
    }

    /// The renamed hash of a part whose plain fingerprint is `plain`.
    fn part(&mut self, plain: u64, code: u64, renamed: impl FnOnce() -> u64) -> u64 {
        *self.parts.entry((plain, code)).or_insert_with(renamed)
    }
}

/// Which fingerprint the engine deduplicates by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symmetry {
    /// None: every state counts.
    Off,
    /// [`Canonical`]: one state per symmetry class, order-independent.
    Canonical,
    /// stateright's `Representative` (for cross-checks with one thread).
    Representative,
}

/// Checks `model` under `view`; `poll` as in [`super::check`].
pub fn check(
    model: &KwModel,
    symmetry: Symmetry,
    view: View,
    sleep_sets: bool,
    opts: &Options,
    poll: impl FnMut(&super::Stats, std::time::Duration) -> Option<String>,
) -> Result<super::Report<KwModel>, String> {
    let independence = Independence::of(model);
    let por: Option<&dyn super::Independence<KwModel>> = sleep_sets.then_some(&independence);
    if sleep_sets && symmetry == Symmetry::Off && view == View::Stateright {
        return Err("sleep sets need the protocol view (stateright's records the last delivery, so no two deliveries commute)".into());
    }
    match (symmetry, view) {
        (Symmetry::Off, View::Stateright) => super::check(model, &super::Plain, por, opts, poll),
        (Symmetry::Representative, View::Stateright) if !sleep_sets => {
            super::check(model, &super::ViaRepresentative, None, opts, poll)
        }
        (Symmetry::Representative, _) => Err(
            "stateright's Representative symmetry counts stateright's view only, without sleep sets"
                .into(),
        ),
        (Symmetry::Off | Symmetry::Canonical, view) => {
            let fp = Kw {
                symmetric: symmetry == Symmetry::Canonical,
                view,
            };
            super::check(model, &fp, por, opts, poll)
        }
    }
}

/// Builds and checks `cfg` under stateright's view (a convenience for
/// tests and benchmarks that compare counts with stateright's).
pub fn check_config(
    cfg: &crate::config::ModelConfig,
    symmetry: Symmetry,
    opts: &Options,
) -> Result<super::Report<KwModel>, String> {
    check(
        &build(cfg),
        symmetry,
        View::Stateright,
        false,
        opts,
        |_, _| None,
    )
}

/// Unique states, states, max depth and discoveries, as `run` collects them.
pub type RunCounts = (usize, usize, usize, crate::run::Discoveries);

/// `run`'s depth-first or breadth-first search on the kraftwerk engine
/// (breadth-first also under symmetry, unlike stateright's): the counts and
/// discoveries `run` reports. A search cut by a limit is reported through
/// `control` with the reason stateright's path gives (`run` reads it
/// there); a depth bound or a stop at the first violation `run` sees from
/// the counts and discoveries, as it does for stateright.
pub fn run_dfs(
    model: &KwModel,
    opts: &crate::run::CheckOptions,
    started: std::time::Instant,
    control: &crate::limits::Control,
    limits: &crate::limits::Limits,
) -> Result<RunCounts, String> {
    use crate::limits::thousands;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::{Duration, Instant};
    let options = Options {
        threads: opts.threads.max(1),
        max_states: opts.max_states,
        max_depth: opts.depth,
        stop_on_violation: opts.stop_on_violation,
        bfs: opts.strategy == crate::run::Strategy::Bfs,
        shuffle: None,
    };
    let symmetry = if opts.symmetry {
        Symmetry::Canonical
    } else {
        Symmetry::Off
    };
    let mut last_print = Instant::now();
    let mut last_states = 0usize;
    let r = check(
        model,
        symmetry,
        opts.view,
        opts.sleep_sets,
        &options,
        |stats, _| {
            if opts.progress && last_print.elapsed() >= Duration::from_secs(2) {
                let states = stats.states.load(Relaxed);
                let rate = (states - last_states) as f64 / last_print.elapsed().as_secs_f64();
                eprintln!(
                    "progress: {:>6.1}s  states {:>13}  unique {:>12}  depth {:>4}  {:>9} states/s",
                    started.elapsed().as_secs_f64(),
                    thousands(states as u64),
                    thousands(stats.unique.load(Relaxed) as u64),
                    stats.max_depth.load(Relaxed),
                    thousands(rate as u64)
                );
                last_print = Instant::now();
                last_states = states;
            }
            limits.exceeded(started)
        },
    )?;
    match &r.cut {
        Some(super::Cut::StateLimit(max)) => {
            control.stop(format!("state limit {} reached", thousands(*max as u64)))
        }
        Some(super::Cut::Stopped(reason)) => control.stop(reason.clone()),
        Some(super::Cut::DepthLimit(_) | super::Cut::Violation) | None => {}
    }
    let mut discoveries = r.discoveries;
    discoveries.sort_by_key(|(n, _)| *n);
    Ok((r.unique, r.states, r.max_depth, discoveries))
}
