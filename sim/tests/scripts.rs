//! The scenario scripts of `sim/testdata/`: each file is run and its
//! output compared with the expectations written in it (regenerate with
//! `KRAFTWERK_BLESS=1` and review the diff). The named tests also assert,
//! in Rust, the point each script makes, so that a bless cannot quietly
//! turn a fixed bug back into a broken run.

use kraftwerk_sim::script::run_file;
use kraftwerk_sim::Cluster;
use kraftwerk_specs::membership::Refusal;
use kraftwerk_specs::types::{NodeId, RequestId, Term};
use std::path::{Path, PathBuf};

fn script(name: &str) -> Cluster {
    run_file(&testdata().join(name))
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Every script in `testdata/` has a test below.
#[test]
fn every_script_is_run() {
    let mut names: Vec<String> = std::fs::read_dir(testdata())
        .expect("testdata")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    let tested = [
        "figure-8-commit-previous-term.txt",
        "figure-8.txt",
        "kraft-prospective-follows-its-leader-again.txt",
        "kraft-resigned-leader-campaigns.txt",
        "kraft-survivors-of-a-dead-leader.txt",
        "raft-dev-2015-single-change-without-term-commit.txt",
        "raft-dev-2015.txt",
    ];
    assert_eq!(names, tested, "add a test for each new script");
}

#[test]
fn figure_8_loses_nothing_with_figure_2s_commit_rule() {
    let c = script("figure-8.txt");
    assert_eq!(c.broken_now(), Vec::<&str>::new());
    let n5 = c.node(NodeId(5));
    assert!(n5.is_leader());
    assert_eq!(n5.hard().term, Term(4));
    // c0#1 was never acknowledged; c0#2 and c0#3 commit under n5.
    assert!(!c.replied(RequestId { client: 0, seq: 1 }));
    assert!(c.replied(RequestId { client: 0, seq: 3 }));
}

#[test]
fn figure_8_with_commit_previous_term_loses_a_committed_entry() {
    let c = script("figure-8-commit-previous-term.txt");
    assert!(
        c.replied(RequestId { client: 0, seq: 1 }),
        "c0#1 acknowledged"
    );
    let broken = c.broken_now();
    assert!(broken.contains(&"leader-completeness"), "{broken:?}");
}

#[test]
fn raft_dev_2015_fix_refuses_the_changes() {
    let c = script("raft-dev-2015.txt");
    assert!(c.refusals().contains(&Refusal::NoCommitInTerm));
    assert!(c
        .answers
        .iter()
        .all(|a| matches!(a, kraftwerk_sim::Answer::Refuse { .. })));
    assert_eq!(c.broken_now(), Vec::<&str>::new());
}

#[test]
fn raft_dev_2015_bug_loses_a_committed_configuration() {
    let c = script("raft-dev-2015-single-change-without-term-commit.txt");
    // E was acknowledged in term 2; n0 then leads term 3 with D's
    // majority {n0,n3}, without E.
    assert!(c.replied(RequestId { client: 7, seq: 1 }), "E committed");
    let n0 = c.node(NodeId(0));
    assert!(n0.is_leader(), "n0 leads term 3");
    assert_eq!(n0.hard().term, Term(3));
    assert!(c.broken_now().contains(&"leader-completeness"));
}

#[test]
fn kraft_prospective_follows_its_leader_again() {
    let c = script("kraft-prospective-follows-its-leader-again.txt");
    assert_eq!(c.leaders(), vec![NodeId(1)], "n1 still leads");
    assert_eq!(c.node(NodeId(3)).known_leader(), Some(NodeId(1)));
    assert_eq!(c.node(NodeId(3)).role_name(), "follower");
}

#[test]
fn kraft_survivors_of_a_dead_leader_elect_one_of_them() {
    let c = script("kraft-survivors-of-a-dead-leader.txt");
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1, "{}", c.describe());
    assert_ne!(leaders[0], NodeId(1));
    assert_eq!(c.broken_now(), Vec::<&str>::new());
}

#[test]
fn kraft_resigned_leader_campaigns_without_a_pre_vote() {
    let c = script("kraft-resigned-leader-campaigns.txt");
    assert_eq!(c.leaders().len(), 1, "{}", c.describe());
    assert_eq!(c.broken_now(), Vec::<&str>::new());
}
