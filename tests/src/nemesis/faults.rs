//! The faults and their schedule, drawn from a seed: the same seed gives
//! the same schedule (which node "the leader" is gets resolved when the
//! fault starts, so the printed schedule says who it was).

use super::rng::Rng;
use std::fmt;
use std::time::Duration;

/// A node a fault aims at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Whoever leads when the fault starts (a random node if none does).
    Leader,
    /// A fixed node.
    Node(u32),
}

/// One fault.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// kill -9, then restart on the same data after the fault's duration.
    Kill(Target),
    /// SIGSTOP, then SIGCONT (longer than an election timeout: a stale
    /// leader comes back).
    Pause(Target),
    /// Cut the leader off from every other node.
    IsolateLeader,
    /// Cut `minority` off from the other nodes (a majority).
    Split {
        /// The smaller side.
        minority: Vec<u32>,
    },
    /// `middle` sees both halves, which do not see each other.
    Bridge {
        /// The node that sees everyone.
        middle: u32,
        /// One half.
        left: Vec<u32>,
        /// The other half.
        right: Vec<u32>,
    },
    /// Each packet into `nodes` is dropped with probability `percent`.
    Loss {
        /// The lossy nodes.
        nodes: Vec<u32>,
        /// Per cent of packets dropped.
        percent: u32,
    },
    /// `nodes` send over a slow link.
    Slow {
        /// The slow nodes.
        nodes: Vec<u32>,
    },
}

impl Fault {
    /// Its kind, for the counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Kill(_) => "kill",
            Fault::Pause(_) => "pause",
            Fault::IsolateLeader => "isolate-leader",
            Fault::Split { .. } => "split",
            Fault::Bridge { .. } => "bridge",
            Fault::Loss { .. } => "loss",
            Fault::Slow { .. } => "slow",
        }
    }
}

fn nodes(xs: &[u32]) -> String {
    xs.iter()
        .map(|n| format!("n{n}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Leader => write!(f, "the leader"),
            Target::Node(n) => write!(f, "n{n}"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill(t) => write!(f, "kill -9 {t}"),
            Fault::Pause(t) => write!(f, "SIGSTOP {t}"),
            Fault::IsolateLeader => write!(f, "isolate the leader"),
            Fault::Split { minority } => write!(f, "split off {}", nodes(minority)),
            Fault::Bridge {
                middle,
                left,
                right,
            } => write!(f, "bridge: {} | n{middle} | {}", nodes(left), nodes(right)),
            Fault::Loss { nodes: ns, percent } => {
                write!(f, "drop {percent}% of packets into {}", nodes(ns))
            }
            Fault::Slow { nodes: ns } => write!(f, "slow links out of {}", nodes(ns)),
        }
    }
}

/// One step of a schedule: a fault held for `hold`, then healed, then
/// `gap` without faults.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The fault.
    pub fault: Fault,
    /// How long it lasts.
    pub hold: Duration,
    /// The quiet time after it.
    pub gap: Duration,
}

/// The faults for a cluster of `n` nodes covering at least `total`: the
/// seven kinds in a shuffled order, again and again; at least one of each
/// kind whatever `total` is.
pub fn schedule(seed: u64, n: u32, total: Duration) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    let ids: Vec<u32> = (1..=n).collect();
    let mut out = Vec::new();
    let mut planned = Duration::ZERO;
    while planned < total {
        let mut deck: Vec<u32> = (0..7).collect();
        rng.shuffle(&mut deck);
        for kind in deck {
            let target = |rng: &mut Rng| {
                if rng.chance(0.5) {
                    Target::Leader
                } else {
                    Target::Node(*rng.pick(&ids))
                }
            };
            let mut shuffled = ids.clone();
            rng.shuffle(&mut shuffled);
            let (fault, hold_ms) = match kind {
                0 => (Fault::Kill(target(&mut rng)), rng.range(1000, 4000)),
                // Longer than the election timeout (300-600 ms) and KRaft's
                // check-quorum (1 s).
                1 => (Fault::Pause(target(&mut rng)), rng.range(1500, 4000)),
                2 => (Fault::IsolateLeader, rng.range(2000, 5000)),
                3 => {
                    let m = ((n - 1) / 2) as usize;
                    let mut minority = shuffled[..m.max(1)].to_vec();
                    minority.sort();
                    (Fault::Split { minority }, rng.range(2000, 5000))
                }
                4 => {
                    let middle = shuffled[0];
                    let rest = &shuffled[1..];
                    let half = rest.len() / 2;
                    let mut left = rest[..half].to_vec();
                    let mut right = rest[half..].to_vec();
                    left.sort();
                    right.sort();
                    (
                        Fault::Bridge {
                            middle,
                            left,
                            right,
                        },
                        rng.range(2000, 5000),
                    )
                }
                5 => {
                    let k = rng.range(1, u64::from(n)) as usize;
                    let mut nodes = shuffled[..k].to_vec();
                    nodes.sort();
                    let percent = *rng.pick(&[10, 20, 30]);
                    (Fault::Loss { nodes, percent }, rng.range(2000, 5000))
                }
                _ => {
                    let k = rng.range(1, u64::from(n)) as usize;
                    let mut nodes = shuffled[..k].to_vec();
                    nodes.sort();
                    (Fault::Slow { nodes }, rng.range(2000, 5000))
                }
            };
            let step = Step {
                fault,
                hold: Duration::from_millis(hold_ms),
                gap: Duration::from_millis(rng.range(500, 1500)),
            };
            planned += step.hold + step.gap;
            out.push(step);
            if planned >= total && out.len() >= 7 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_schedule_and_every_kind_runs() {
        for n in [3, 5] {
            let a = schedule(42, n, Duration::from_secs(40));
            assert_eq!(a, schedule(42, n, Duration::from_secs(40)));
            assert_ne!(a, schedule(43, n, Duration::from_secs(40)));
            let kinds: std::collections::BTreeSet<&str> =
                a.iter().map(|s| s.fault.kind()).collect();
            assert_eq!(kinds.len(), 7, "{a:?}");
            for s in &a {
                match &s.fault {
                    Fault::Split { minority } => {
                        assert!(!minority.is_empty() && minority.len() * 2 < n as usize)
                    }
                    Fault::Bridge {
                        middle,
                        left,
                        right,
                    } => {
                        assert!(!left.is_empty() && !right.is_empty());
                        assert_eq!(left.len() + right.len() + 1, n as usize);
                        assert!(!left.contains(middle) && !right.contains(middle));
                    }
                    Fault::Pause(_) => assert!(s.hold >= Duration::from_millis(1500)),
                    _ => {}
                }
            }
        }
    }
}
