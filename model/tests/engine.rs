//! Cross-checks of kraftwerk's own engine (`--engine kraftwerk`) against
//! stateright's checkers on the same `ActorModel`.
//!
//! - Without symmetry, on one or two threads, the engine's unique count
//!   (and on one thread its total count and depth) equals stateright's
//!   depth-first search, which equals the pinned counts.
//! - With stateright's own `Representative` and one thread, the engine
//!   visits states in stateright's order and finds the same count.
//! - With the engine's canonical symmetry, the count is the number of
//!   symmetry classes, computed here by a naive reference (every reachable
//!   state, the minimum fingerprint over every class-preserving
//!   permutation), and does not depend on the thread count.
//! - Verdicts are the same everywhere.

use kraftwerk_model::config::{ModelConfig, NetworkKind, Plan, Protocol, Reconfig};
use kraftwerk_model::engine::kw::{check_config, permute, Symmetry};
use kraftwerk_model::engine::{fingerprint, Options};
use kraftwerk_model::model::{build, symmetry_classes};
use kraftwerk_model::run::{run, CheckOptions, Engine, RunResult, Status, Strategy};
use proptest::prelude::{prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig};
use proptest::strategy::Strategy as _;
use stateright::Model;
use std::collections::{HashSet, VecDeque};

fn stateright(cfg: &ModelConfig, symmetry: bool, max_states: Option<usize>) -> RunResult {
    let opts = CheckOptions {
        strategy: Strategy::Dfs,
        symmetry,
        max_states,
        ..CheckOptions::default()
    };
    run(cfg, &opts).expect("stateright finished")
}

fn kraftwerk(cfg: &ModelConfig, symmetry: bool, threads: usize) -> RunResult {
    let opts = CheckOptions {
        engine: Engine::Kraftwerk,
        strategy: Strategy::Dfs,
        symmetry,
        threads,
        ..CheckOptions::default()
    };
    run(cfg, &opts).expect("kraftwerk finished")
}

fn verdicts(r: &RunResult) -> Vec<(&'static str, Status)> {
    r.properties.iter().map(|p| (p.name, p.status)).collect()
}

/// The number of symmetry classes of the reachable states, the naive way.
fn orbits(cfg: &ModelConfig) -> usize {
    let m = build(cfg);
    let classes = symmetry_classes(cfg);
    let ns = cfg.nodes();
    let n = m.actors.len();
    let mut perms: Vec<Vec<usize>> = vec![vec![]];
    for k in 0..ns {
        perms = perms
            .into_iter()
            .flat_map(|p| {
                (0..=p.len()).map(move |i| {
                    let mut q = p.clone();
                    q.insert(i, k);
                    q
                })
            })
            .collect();
    }
    let perms: Vec<Vec<usize>> = perms
        .into_iter()
        .filter(|p| (0..ns).all(|i| classes[p[i]] == classes[i]))
        .map(|mut p| {
            p.extend(ns..n);
            p
        })
        .collect();
    let mut seen = HashSet::new();
    let mut classes_seen = HashSet::new();
    let mut queue = VecDeque::new();
    for s in m.init_states() {
        if seen.insert(fingerprint(&s)) {
            queue.push_back(s);
        }
    }
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        let min = perms
            .iter()
            .map(|p| fingerprint(&permute(&s, p)))
            .min()
            .expect("the identity");
        classes_seen.insert(min);
        actions.clear();
        m.actions(&s, &mut actions);
        for a in actions.drain(..) {
            if let Some(t) = m.next_state(&s, a) {
                if Model::within_boundary(&m, &t) && seen.insert(fingerprint(&t)) {
                    queue.push_back(t);
                }
            }
        }
    }
    classes_seen.len()
}

/// Every comparison on one configuration; `full`/`reduced` are the pinned
/// counts (model/tests/pinned.rs). `orbit_check` also runs the naive
/// reference of the canonical count (slow: all permutations of all states).
fn cross_check(cfg: ModelConfig, full: usize, reduced: usize, orbit_check: bool) {
    let name = cfg.describe();
    let sr = stateright(&cfg, false, None);
    let sr_sym = stateright(&cfg, true, None);
    assert_eq!(
        (sr.unique_states, sr_sym.unique_states),
        (full, reduced),
        "{name}: stateright"
    );
    for threads in [1, 2] {
        let kw = kraftwerk(&cfg, false, threads);
        assert!(kw.complete, "{name}: {:?}", kw.cut);
        assert_eq!(
            kw.unique_states, full,
            "{name}: kraftwerk, {threads} thread(s)"
        );
        assert_eq!(verdicts(&kw), verdicts(&sr), "{name}");
        if threads == 1 {
            assert_eq!(
                (kw.states, kw.max_depth),
                (sr.states, sr.max_depth),
                "{name}: total states and depth"
            );
        }
    }
    let rep = check_config(&cfg, Symmetry::Representative, &Options::default()).expect("engine");
    assert_eq!(rep.unique, reduced, "{name}: stateright's representative");
    let canonical: Vec<_> = [1, 2].iter().map(|&t| kraftwerk(&cfg, true, t)).collect();
    assert_eq!(
        canonical[0].unique_states, canonical[1].unique_states,
        "{name}"
    );
    assert!(canonical[0].unique_states <= reduced, "{name}");
    assert_eq!(verdicts(&canonical[0]), verdicts(&sr_sym), "{name}");
    assert_eq!(verdicts(&canonical[1]), verdicts(&sr_sym), "{name}");
    if orbit_check {
        assert_eq!(canonical[0].unique_states, orbits(&cfg), "{name}: classes");
    }
}

fn small(protocol: Protocol, servers: usize, max_term: u64) -> ModelConfig {
    ModelConfig {
        protocol,
        servers,
        max_term,
        crashes: 0,
        network: NetworkKind::UnorderedNonduplicating,
        ..ModelConfig::default_for(protocol)
    }
}

fn reconfig(protocol: Protocol, mode: Reconfig, servers: usize, plan: &str) -> ModelConfig {
    ModelConfig {
        servers,
        changes: Plan::parse(plan).expect("plan"),
        ..ModelConfig::default_reconfig(protocol, mode)
    }
}

#[test]
fn pinned_raft() {
    let two = ModelConfig {
        crashes: 1,
        values: 1,
        ..small(Protocol::Raft, 2, 2)
    };
    cross_check(two, 36_426, 18_302, true);
    let three = ModelConfig {
        values: 1,
        ..small(Protocol::Raft, 3, 1)
    };
    cross_check(three, 29_657, 8_610, true);
    // A duplicating network (its state includes the last delivered
    // envelope, which a fingerprint must not forget).
    let dup = ModelConfig {
        values: 1,
        network: NetworkKind::UnorderedDuplicating,
        ..small(Protocol::Raft, 2, 1)
    };
    let sr = stateright(&dup, false, None);
    let sr_sym = stateright(&dup, true, None);
    cross_check(dup, sr.unique_states, sr_sym.unique_states, true);
}

#[test]
fn pinned_kraft() {
    cross_check(small(Protocol::Kraft, 2, 2), 38_090, 19_060, true);
    let pre_vote = ModelConfig {
        pre_vote: true,
        ..small(Protocol::Kraft, 2, 1)
    };
    cross_check(pre_vote, 236_048, 118_189, false);
    let observer = ModelConfig {
        observers: 1,
        values: 1,
        ..small(Protocol::Kraft, 1, 1)
    };
    cross_check(observer, 842, 842, true);
}

#[test]
fn pinned_check_quorum_with_symmetry() {
    let cfg = ModelConfig {
        check_quorum: true,
        ..small(Protocol::Kraft, 2, 2)
    };
    let sr = stateright(&cfg, true, None);
    assert_eq!(sr.unique_states, 472_227);
    let rep = check_config(&cfg, Symmetry::Representative, &Options::default()).expect("engine");
    assert_eq!(rep.unique, 472_227);
    let kw = kraftwerk(&cfg, true, 2);
    assert!(kw.complete);
    assert_eq!(verdicts(&kw), verdicts(&sr));
}

#[test]
fn pinned_reconfig() {
    let joint = ModelConfig {
        max_term: 2,
        ..reconfig(Protocol::Raft, Reconfig::Joint, 2, "+2-0")
    };
    cross_check(joint, 234_394, 234_394, false);
    let single = reconfig(Protocol::Raft, Reconfig::Single, 2, "+2,-0");
    cross_check(single, 981, 981, true);
    let kjoint = reconfig(Protocol::Kraft, Reconfig::Joint, 1, "+1-0");
    cross_check(kjoint, 123_392, 123_392, false);
    let ksingle = reconfig(Protocol::Kraft, Reconfig::Single, 1, "+1,-0");
    cross_check(ksingle, 359_858, 359_858, false);
}

/// Catalogued bugs whose bounds are exhaustive (not simulation), found by
/// the engine's depth-first search. `vote-without-log-check` and
/// `kraft-ignore-diverging-epoch` are left out: depth-first search did not
/// reach their (8- and 9-step, breadth-first) counterexamples within 2
/// minutes at the catalogue's bounds (see the engine's report).
#[test]
fn catalogued_bugs_found() {
    use kraftwerk_specs::bugs::CATALOGUE;
    for b in CATALOGUE {
        if b.bounds.strategy == "simulation"
            || ["vote-without-log-check", "kraft-ignore-diverging-epoch"].contains(&b.name)
        {
            continue;
        }
        for protocol in b.protocol.split(',') {
            let args = [
                "kraftwerk",
                "check",
                "--bug",
                b.name,
                "--protocol",
                protocol,
                "--strategy",
                "dfs",
                "--engine",
                "kraftwerk",
            ];
            let code = kraftwerk_model::cli::main(args.iter().map(Into::into));
            assert_eq!(code, 12, "{} ({protocol}) not found", b.name);
        }
    }
}

/// A random small configuration: (config, symmetry) or `None` if invalid.
fn arb_config() -> impl proptest::strategy::Strategy<Value = ModelConfig> {
    (
        prop_oneof![Just(Protocol::Raft), Just(Protocol::Kraft)],
        1usize..=3,
        1u64..=2,
        0usize..=1,
        0usize..=1,
        0usize..3,
        0usize..3,
        0usize..=kraftwerk_specs::bugs::CATALOGUE.len(),
    )
        .prop_map(
            |(protocol, servers, max_term, values, crashes, net, rc, bug)| {
                let mode = [Reconfig::None, Reconfig::Joint, Reconfig::Single][rc];
                let mut cfg = if mode == Reconfig::None {
                    ModelConfig::default_for(protocol)
                } else {
                    ModelConfig {
                        changes: Plan::default_for(mode, servers),
                        ..ModelConfig::default_reconfig(protocol, mode)
                    }
                };
                cfg.servers = servers;
                cfg.max_term = max_term;
                cfg.values = values;
                cfg.crashes = crashes.min(servers);
                cfg.network = [
                    NetworkKind::UnorderedDuplicating,
                    NetworkKind::UnorderedNonduplicating,
                    NetworkKind::Ordered,
                ][net];
                if let Some(b) = kraftwerk_specs::bugs::CATALOGUE.get(bug) {
                    if b.protocol.split(',').any(|p| p == protocol.to_string()) {
                        cfg.bugs.insert(b.bug);
                    }
                }
                cfg
            },
        )
        .prop_filter("valid", |c| c.validate().is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Both engines on one thread, cut at 20,000 generated states when
    /// larger: the same unique and total counts (the engine stops where
    /// stateright does, at the same block), and the same verdicts.
    #[test]
    fn engines_agree(cfg in arb_config()) {
        let limit = Some(20_000);
        let sr = stateright(&cfg, false, limit);
        let opts = CheckOptions {
            engine: Engine::Kraftwerk,
            max_states: limit,
            symmetry: false,
            ..CheckOptions::default()
        };
        let kw = run(&cfg, &opts).expect("kraftwerk");
        prop_assert_eq!(kw.unique_states, sr.unique_states, "{}", cfg.describe());
        prop_assert_eq!(kw.states, sr.states, "{}", cfg.describe());
        prop_assert_eq!(verdicts(&kw), verdicts(&sr), "{}", cfg.describe());
        let sr_sym = stateright(&cfg, true, limit);
        let options = Options { max_states: limit, ..Options::default() };
        let rep = check_config(&cfg, Symmetry::Representative, &options).expect("engine");
        prop_assert_eq!(rep.unique, sr_sym.unique_states, "{} (symmetry)", cfg.describe());
    }
}
