//! Seeded random schedules on a [`Cluster`]: each step delivers (maybe
//! keeping a copy) or drops a message, fires an armed timer, proposes,
//! asks for a membership change, or crashes or restarts a server, every
//! choice drawn from one [`Rng`]. Terms stay small because at most
//! [`Schedule::elections_max`] election timeouts fire in one schedule.

use crate::{Check, Cluster, Rng};
use kraftwerk_specs::membership::{Mode, VoterChange};
use kraftwerk_specs::node::Timer;
use kraftwerk_specs::protocol::AnyConfig;
use kraftwerk_specs::types::{NodeId, RequestId};

/// The shape of a random schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Steps per schedule.
    pub steps: usize,
    /// At most this many election timeouts fire (bounds terms).
    pub elections_max: usize,
    /// At most this many client proposals.
    pub proposals_max: u64,
    /// Proposals use request ids `c0#0 .. c0#(seqs - 1)`, so that retries
    /// of one request are frequent.
    pub seqs: u64,
    /// Weight of membership-change requests (0: none).
    pub changes: usize,
    /// At most this many membership-change requests.
    pub changes_max: u64,
    /// An armed election timer picked to fire fires only one time in this
    /// many (1: always), so that elections can finish before the next.
    pub election_one_in: usize,
    /// Weight of timeouts (deliveries weigh 14, drops 1, proposals 3).
    pub timers: usize,
    /// Weight of crashes (restarts weigh twice as much; 0: none). At most
    /// one server is down at a time.
    pub crashes: usize,
    /// One delivery in this many keeps a copy in flight (0: never).
    pub duplicate_one_in: usize,
    /// When more messages than this are in flight, the oldest half is lost
    /// (the model's bounds keep networks small too).
    pub network_max: usize,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            steps: 400,
            elections_max: usize::MAX,
            proposals_max: 8,
            seqs: 6,
            changes: 0,
            changes_max: 0,
            election_one_in: 1,
            timers: 3,
            crashes: 1,
            duplicate_one_in: 4,
            network_max: 40,
        }
    }
}

/// Counters of one schedule.
#[derive(Default)]
struct Budget {
    elections: usize,
    proposals: u64,
    changes: u64,
}

/// Runs one schedule of `s` on `c`; the first failed check ends it.
pub fn run(c: &mut Cluster, rng: &mut Rng, s: &Schedule) -> Check {
    let mut budget = Budget::default();
    for _ in 0..s.steps {
        event(c, rng, s, &mut budget)?;
        if c.network.len() > s.network_max {
            c.network.drain(..s.network_max / 2);
        }
    }
    Ok(())
}

/// One random event.
fn event(c: &mut Cluster, rng: &mut Rng, s: &Schedule, b: &mut Budget) -> Check {
    let ids = c.ids();
    let n = ids.len();
    let weights = [14, 1, s.timers, 3, s.changes, s.crashes, 2 * s.crashes];
    let total: usize = weights.iter().sum();
    let mut pick = rng.below(total);
    let mut kind = 0;
    while pick >= weights[kind] {
        pick -= weights[kind];
        kind += 1;
    }
    match kind {
        0 if !c.network.is_empty() => {
            let k = rng.below(c.network.len());
            let copy = s.duplicate_one_in > 0 && rng.one_in(s.duplicate_one_in);
            c.deliver_at(k, copy)
        }
        1 if !c.network.is_empty() => {
            let k = rng.below(c.network.len());
            c.drop_at(k);
            Ok(())
        }
        2 => {
            let id = ids[rng.below(n)];
            let armed: Vec<Timer> = c.server(id).timers.iter().copied().collect();
            if armed.is_empty() {
                return Ok(());
            }
            let t = armed[rng.below(armed.len())];
            if t == Timer::Election {
                if b.elections >= s.elections_max || !rng.one_in(s.election_one_in) {
                    return Ok(());
                }
                b.elections += 1;
            }
            c.fire(id, t).map(|_| ())
        }
        3 => {
            // To the leader when there is one (a client follows hints).
            let id = match c.leader() {
                Some(l) if !rng.one_in(4) => l,
                _ => ids[rng.below(n)],
            };
            if !c.is_up(id) || b.proposals >= s.proposals_max {
                return Ok(());
            }
            b.proposals += 1;
            let seq = b.proposals % s.seqs;
            c.propose(id, RequestId { client: 0, seq }, vec![seq as u8])
        }
        4 => {
            let leaders = c.leaders();
            if leaders.is_empty() || b.changes >= s.changes_max {
                return Ok(());
            }
            let id = leaders[rng.below(leaders.len())];
            b.changes += 1;
            // One voter, or (joint consensus can) two at once.
            let joint = match c.config() {
                AnyConfig::Raft(cfg) => cfg.reconfig == Mode::Joint,
                AnyConfig::Kraft(cfg) => cfg.reconfig == Mode::Joint,
            };
            let count = if joint { 1 + rng.below(2) } else { 1 };
            let changes: Vec<VoterChange> = (0..count)
                .map(|_| {
                    let who = ids[rng.below(n)];
                    if c.node(id).view().voters.contains(who) {
                        VoterChange::Remove(who)
                    } else {
                        VoterChange::Add(who)
                    }
                })
                .collect();
            // Ids repeat, as retries do.
            let request = RequestId {
                client: 9,
                seq: b.changes % 5,
            };
            c.change(id, request, changes)
        }
        5 => {
            let id = ids[rng.below(n)];
            let up = ids.iter().filter(|&&i| c.is_up(i)).count();
            if !c.is_up(id) || up + 1 < n {
                return Ok(());
            }
            c.crash(id)
        }
        6 => match ids.iter().copied().find(|&i| !c.is_up(i)) {
            Some(id) => c.restart(id),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Runs `seeds` schedules (seeds `1..=seeds`) of `s` on clusters made by
/// `new`; calls `each` with every finished cluster. The first failure
/// comes back with its seed and the cluster's trace.
pub fn run_seeds(
    seeds: u64,
    s: &Schedule,
    new: impl Fn() -> Cluster,
    mut each: impl FnMut(&Cluster),
) -> Result<(), String> {
    for seed in 1..=seeds {
        let mut rng = Rng::new(seed);
        let mut c = new();
        if let Err(e) = run(&mut c, &mut rng, s) {
            let trace = c.describe();
            let tail: Vec<&str> = trace.lines().collect();
            let keep = tail.len().saturating_sub(60);
            return Err(format!("seed {seed}: {e}\n{}", tail[keep..].join("\n")));
        }
        each(&c);
    }
    Ok(())
}

/// The ids `0..n`.
pub fn ids(n: u32) -> Vec<NodeId> {
    (0..n).map(NodeId).collect()
}
