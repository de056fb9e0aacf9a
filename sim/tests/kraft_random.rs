//! Seeded random schedules on KRaft clusters (moved here from the
//! hand-built simulators of `specs/src/kraft/tests.rs` and
//! `specs/src/kraft/membership_tests.rs`): the harness checks every
//! property after every step; these tests say which configurations, and
//! that the runs reach what makes a pass meaningful.

use kraftwerk_sim::random::{ids, run_seeds, Schedule};
use kraftwerk_sim::{Cluster, Stats};
use kraftwerk_specs::bugs::Bug;
use kraftwerk_specs::kraft::Config;
use kraftwerk_specs::membership::Mode;
use kraftwerk_specs::protocol::AnyConfig;
use kraftwerk_specs::types::{LogIndex, RequestId, Term};
use std::sync::Arc;

fn cluster(cfg: &Config, nodes: u32) -> Cluster {
    Cluster::new(AnyConfig::Kraft(Arc::new(cfg.clone())), &ids(nodes)).expect("start")
}

/// Sums `Stats` over schedules (the committed index: the largest).
fn add(total: &mut Stats, c: &Cluster) {
    let s = c.stats;
    total.elections_won += s.elections_won;
    total.truncations += s.truncations;
    total.restarts += s.restarts;
    total.resignations += s.resignations;
    total.replies += s.replies;
    total.max_committed = total.max_committed.max(s.max_committed);
}

fn plain(nodes: u32, observers: &[u32]) -> Config {
    let voters = (0..nodes).filter(|i| !observers.contains(i));
    let mut c = Config::new(
        voters.map(kraftwerk_specs::types::NodeId),
        observers.iter().map(|&i| kraftwerk_specs::types::NodeId(i)),
    );
    c.max_records_per_fetch = 2;
    c
}

#[test]
fn random_schedules_keep_every_property() {
    for (pre_vote, check_quorum) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut cfg = plain(4, &[]);
        cfg.pre_vote = pre_vote;
        cfg.check_quorum = check_quorum;
        let mut seen = Stats::default();
        let s = Schedule {
            election_one_in: 3,
            ..Schedule::default()
        };
        run_seeds(60, &s, || cluster(&cfg, 4), |c| add(&mut seen, c))
            .unwrap_or_else(|e| panic!("{e}"));
        // Not vacuous: leaders were elected, records committed, logs
        // truncated, servers restarted (restarted leaders resign).
        let what = format!("pre-vote {pre_vote}, check-quorum {check_quorum}: {seen:?}");
        assert!(seen.elections_won > 0, "{what}");
        assert!(seen.max_committed >= LogIndex(3), "{what}");
        assert!(seen.truncations > 0, "{what}");
        assert!(seen.restarts > 0 && seen.resignations > 0, "{what}");
    }
}

/// The random cluster finds each catalogued KRaft bug, reported by a
/// safety property.
#[test]
fn random_schedules_find_the_catalogued_bugs() {
    for bug in [
        Bug::KraftHwmBeforeEpochStart,
        Bug::KraftIgnoreDivergingEpoch,
    ] {
        let mut cfg = plain(4, &[]);
        cfg.bugs.insert(bug);
        let s = Schedule {
            steps: 600,
            election_one_in: 3,
            ..Schedule::default()
        };
        let found = run_seeds(300, &s, || cluster(&cfg, 4), |_| {}).err();
        let message = found.unwrap_or_else(|| panic!("{bug:?} not found"));
        let first = message.lines().next().unwrap_or("");
        assert!(first.ends_with(" violated"), "{bug:?}: {first}");
    }
}

/// Membership change under random schedules: five servers, three voters
/// and two observers that requests add and remove.
fn membership(mode: Mode, pre_vote: bool, check_quorum: bool) -> Config {
    let mut cfg = plain(5, &[3, 4]);
    cfg.reconfig = mode;
    cfg.pre_vote = pre_vote;
    cfg.check_quorum = check_quorum;
    cfg
}

fn membership_schedule() -> Schedule {
    Schedule {
        steps: 800,
        proposals_max: 40,
        seqs: 4,
        timers: 4,
        election_one_in: 3,
        changes: 3,
        changes_max: 40,
        duplicate_one_in: 5,
        ..Schedule::default()
    }
}

#[test]
fn random_schedules_with_membership_changes_keep_every_property() {
    for mode in [Mode::Joint, Mode::Single] {
        for (pre_vote, check_quorum) in [(false, false), (true, true)] {
            let cfg = membership(mode, pre_vote, check_quorum);
            let (mut changes_done, mut removed_leaders, mut max_epoch) = (0, 0, Term(0));
            run_seeds(
                300,
                &membership_schedule(),
                || cluster(&cfg, 5),
                |c| {
                    changes_done += c
                        .answers
                        .iter()
                        .filter(|a| {
                            matches!(
                                a,
                                kraftwerk_sim::Answer::Reply {
                                    request: RequestId { client: 9, .. },
                                    ..
                                }
                            )
                        })
                        .count();
                    removed_leaders += c.stats.removed_leaders;
                    for id in c.ids() {
                        max_epoch = max_epoch.max(c.node(id).hard().term);
                    }
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let what = format!(
                "{mode:?}, pre-vote {pre_vote}, check-quorum {check_quorum}: \
                 {changes_done} changes, {removed_leaders} removed leaders, epoch {max_epoch}"
            );
            assert!(changes_done > 0, "{what}");
            assert!(removed_leaders > 0, "{what}");
            assert!(max_epoch >= Term(3), "{what}");
        }
    }
}

/// The random cluster finds the joint-consensus bug (the one-server bug
/// needs a rarer schedule: the model's search is the place for it).
#[test]
fn random_schedules_find_joint_skip_old_majority() {
    let mut cfg = membership(Mode::Joint, false, false);
    cfg.bugs.insert(Bug::JointSkipOldMajority);
    let found = run_seeds(300, &membership_schedule(), || cluster(&cfg, 5), |_| {}).err();
    let message = found.expect("joint-skip-old-majority not found");
    assert!(
        message.contains(": one-uncommitted-config violated"),
        "not found: {}",
        message.lines().next().unwrap_or("")
    );
}
