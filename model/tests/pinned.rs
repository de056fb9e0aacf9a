//! Pinned state counts for small configurations. A change in the model's
//! semantics (the core, the adapter, the bounds) shows up here as a changed
//! number: read the diff, then update the pin on purpose.
//!
//! For each configuration: single-threaded breadth-first search without
//! symmetry and depth-first search without symmetry must agree on the
//! count; depth-first search with symmetry must find strictly fewer states
//! and still every "sometimes" property, with no safety property violated.

mod common;

use common::{reconfig, small};
use kraftwerk_model::config::{ModelConfig, Protocol, Reconfig};
use kraftwerk_model::run::{run, CheckOptions, RunResult, Status, Strategy};

fn check(cfg: &ModelConfig, strategy: Strategy, symmetry: bool) -> RunResult {
    let opts = CheckOptions {
        threads: 1,
        strategy,
        symmetry,
        ..CheckOptions::default()
    };
    let r = run(cfg, &opts).expect("checker finished");
    assert!(r.complete, "{}: search not complete: {:?}", r.config, r.cut);
    r
}

fn assert_as_expected(r: &RunResult) {
    for p in &r.properties {
        assert!(
            matches!(p.status, Status::Holds | Status::Found),
            "{}: {} is {:?}",
            r.config,
            p.name,
            p.status
        );
    }
}

fn pin(cfg: ModelConfig, full: usize, reduced: usize) {
    let bfs = check(&cfg, Strategy::Bfs, false);
    let dfs = check(&cfg, Strategy::Dfs, false);
    let sym = check(&cfg, Strategy::Dfs, true);
    assert_eq!(bfs.unique_states, full, "{}: bfs", cfg.describe());
    assert_eq!(dfs.unique_states, full, "{}: dfs", cfg.describe());
    assert_eq!(
        sym.unique_states,
        reduced,
        "{}: dfs+symmetry",
        cfg.describe()
    );
    assert!(reduced < full || cfg.servers == 1);
    assert_as_expected(&bfs);
    assert_as_expected(&sym);
    let names = |r: &RunResult| r.properties.iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(names(&bfs), names(&sym));
}

#[test]
fn raft_two_servers_two_terms_one_crash() {
    let cfg = ModelConfig {
        crashes: 1,
        values: 1,
        ..small(Protocol::Raft, 2, 2)
    };
    pin(cfg, 36_426, 18_302);
}

#[test]
fn raft_three_servers_one_term() {
    let cfg = ModelConfig {
        values: 1,
        ..small(Protocol::Raft, 3, 1)
    };
    pin(cfg, 29_657, 8_610);
}

#[test]
fn raft_production_two_servers_two_terms_one_crash() {
    // The leader no-op is the only entry: each new leader commits one of its
    // own term, so leader completeness is tested across the two terms.
    let cfg = ModelConfig {
        crashes: 1,
        values: 0,
        ..small(Protocol::Raft, 2, 2).production()
    };
    assert!(cfg.leader_noop);
    pin(cfg, 11_832, 6_005);
}

#[test]
fn kraft_production_two_voters_is_the_suites_run() {
    // The standard suite's production KRaft run (pre-vote and check-quorum
    // on). Depth-first with symmetry only, to keep the test short.
    let suite = kraftwerk_model::cli::default_suite();
    let cfg = ModelConfig {
        servers: 2,
        ..small(Protocol::Kraft, 2, 1).production()
    };
    assert!(cfg.pre_vote && cfg.check_quorum);
    assert!(suite.contains(&cfg), "{}", cfg.describe());
    let r = check(&cfg, Strategy::Dfs, true);
    assert_as_expected(&r);
    assert_eq!(r.unique_states, 425_661);
}

#[test]
fn kraft_two_voters_two_epochs() {
    pin(small(Protocol::Kraft, 2, 2), 38_090, 19_060);
}

#[test]
fn kraft_two_voters_pre_vote() {
    let cfg = ModelConfig {
        pre_vote: true,
        ..small(Protocol::Kraft, 2, 1)
    };
    pin(cfg, 236_048, 118_189);
}

#[test]
fn kraft_voter_and_observer() {
    let cfg = ModelConfig {
        observers: 1,
        values: 1,
        ..small(Protocol::Kraft, 1, 1)
    };
    let r = check(&cfg, Strategy::Bfs, false);
    assert!(r
        .properties
        .iter()
        .any(|p| p.name == "observer-replicates-committed" && p.status == Status::Found));
    // A voter and an observer are not interchangeable: symmetry must not
    // merge anything here.
    pin(cfg, 842, 842);
}

#[test]
fn kraft_check_quorum_resignation_is_reachable() {
    // Two voters, two epochs, check-quorum: a leader resigns (EndQuorumEpoch)
    // and a later epoch gets a leader. Depth-first with symmetry only, to
    // keep the test short.
    let cfg = ModelConfig {
        check_quorum: true,
        ..small(Protocol::Kraft, 2, 2)
    };
    let r = check(&cfg, Strategy::Dfs, true);
    assert_as_expected(&r);
    assert!(r
        .properties
        .iter()
        .any(|p| p.name == "leader-resigned-and-replaced" && p.status == Status::Found));
    assert_eq!(r.unique_states, 472_227);
}

/// A membership-change configuration: servers the plan names are classes
/// of their own, so with these plans symmetry has nothing left to merge;
/// the three searches must agree on the count.
fn pin_reconfig(cfg: ModelConfig, count: usize) {
    let bfs = check(&cfg, Strategy::Bfs, false);
    let dfs = check(&cfg, Strategy::Dfs, false);
    let sym = check(&cfg, Strategy::Dfs, true);
    let counts = [bfs.unique_states, dfs.unique_states, sym.unique_states];
    assert_eq!(counts, [count; 3], "{}", cfg.describe());
    assert_as_expected(&bfs);
    assert_as_expected(&sym);
}

#[test]
fn raft_joint_two_voters_replace_one_two_terms() {
    let cfg = ModelConfig {
        max_term: 2,
        ..reconfig(Protocol::Raft, Reconfig::Joint, 2, "+2-0")
    };
    let names: Vec<_> = kraftwerk_model::model::properties(&cfg)
        .iter()
        .map(|p| p.1)
        .collect();
    assert!(names.contains(&"added-server-votes"));
    assert!(names.contains(&"joint-config-committed"));
    pin_reconfig(cfg, 234_394);
}

#[test]
fn raft_single_two_voters_add_then_remove() {
    pin_reconfig(reconfig(Protocol::Raft, Reconfig::Single, 2, "+2,-0"), 981);
}

#[test]
fn kraft_joint_one_voter_replaced() {
    pin_reconfig(
        reconfig(Protocol::Kraft, Reconfig::Joint, 1, "+1-0"),
        123_392,
    );
}

#[test]
fn kraft_single_one_voter_add_then_remove() {
    pin_reconfig(
        reconfig(Protocol::Kraft, Reconfig::Single, 1, "+1,-0"),
        359_858,
    );
}
