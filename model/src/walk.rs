//! Random walks over the model, seeded, for configurations too large to
//! exhaust (`--strategy simulation`).
//!
//! stateright 0.31's own simulation checker records discoveries as action
//! indices and rebuilds the path by replaying them, which fails (and
//! panics) for some paths of this model. This walker keeps the actions it
//! took and rebuilds each discovery with `Path::from_actions`, so every
//! counterexample it reports is a real path. It never proves absence.
//!
//! A uniform choice among the enabled actions is a poor model of a real
//! network, and it misses bugs that need two things real clusters do all
//! the time:
//!
//! - *Timeouts are rare.* An election timeout is many message delays long,
//!   but the model keeps every follower's timer armed, so a uniform walk
//!   fires one at almost every other step and spends its terms on split
//!   votes. Here a timeout is as likely as a delivery over a slow link.
//! - *Some messages are held back for a long time*, as a partition or a
//!   slow link would, while the rest of the cluster moves on: a leader
//!   whose entries reach nobody while others elect. So the walks have
//!   *weather*, as a Jepsen nemesis has partitions: a walk is cut into
//!   phases of random length (mean [`PHASE_MEAN`] steps), and in each phase
//!   every directed link is fast or slow with probability one half. A
//!   delivery over a slow link is [`SLOW`] times less likely than one over
//!   a fast link.
//!
//! Crashes and recoveries weigh as fast deliveries. Every action stays
//! possible, so the walks reach the same states; only the odds change.
//! Measured on the catalogue (`kraftwerk check --bug NAME`, seed 0), total
//! states to the first violation, uniform walk → this walk:
//! `single-change-without-term-commit` not found in 10 M → 37 k;
//! `kraft-hwm-before-epoch-start` 4.1 M → 153 k; `commit-previous-term`
//! 1.5 M → 95 k; `no-truncate-on-conflict` 37 k → 2.5 k. Either half
//! alone is not enough: without the weather the first is not found in 4 M
//! states, and with frequent timeouts three of the four are not.

use crate::model::{KwModel, KwState};
use stateright::actor::ActorModelAction;
use stateright::{Expectation, Model, Path};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::Instant;

/// The longest walk before starting again from an initial state.
const WALK_STEPS_MAX: usize = 400;
/// How many times less likely a delivery over a slow link is.
const SLOW: u64 = 32;
/// The mean length of a weather phase, in steps.
const PHASE_MEAN: usize = 8;

/// What the walks found.
pub struct WalkResult {
    /// States visited, repeats included.
    pub states: usize,
    /// Distinct states visited.
    pub unique: usize,
    /// The longest walk.
    pub max_depth: usize,
    /// One path per property with a discovery.
    pub discoveries: Vec<(&'static str, Path<KwState, <KwModel as Model>::Action>)>,
}

/// SplitMix64: a small, seedable generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The weather of one phase: which directed links are slow.
struct Weather {
    actors: usize,
    slow: Vec<bool>,
    /// Steps left in this phase.
    left: usize,
}

impl Weather {
    fn new(actors: usize, rng: &mut Rng) -> Weather {
        Weather {
            actors,
            slow: (0..actors * actors).map(|_| rng.below(2) == 0).collect(),
            left: 1 + rng.below(2 * PHASE_MEAN),
        }
    }

    /// The odds of choosing `action`.
    fn weight(&self, action: &<KwModel as Model>::Action) -> u64 {
        match action {
            ActorModelAction::Deliver { src, dst, .. } => {
                let (s, d) = (usize::from(*src), usize::from(*dst));
                if s < self.actors && d < self.actors && self.slow[s * self.actors + d] {
                    1
                } else {
                    SLOW
                }
            }
            ActorModelAction::Timeout(..) => 1,
            _ => SLOW,
        }
    }
}

/// Walks at random from the initial states until `max_states` states
/// were visited (or every property has a discovery, or, with
/// `stop_on_violation`, an "always" property fails, or `stop` says so: it
/// is asked every 1,024 states). `progress` is called with (states,
/// distinct, deepest) every 2 seconds.
pub fn random_walks(
    model: &KwModel,
    seed: u64,
    max_states: usize,
    stop_on_violation: bool,
    mut progress: impl FnMut(usize, usize, usize),
    mut stop: impl FnMut() -> bool,
) -> WalkResult {
    let properties = model.properties();
    let mut rng = Rng(seed);
    let mut seen = HashSet::new();
    let mut found: Vec<Option<Path<KwState, _>>> = vec![None; properties.len()];
    let mut result = WalkResult {
        states: 0,
        unique: 0,
        max_depth: 0,
        discoveries: Vec::new(),
    };
    let inits = model.init_states();
    let mut last_report = Instant::now();
    'walks: while result.states < max_states {
        let start = rng.below(inits.len());
        let mut state = inits[start].clone();
        let mut actions = Vec::new();
        let mut weather = Weather::new(state.actor_states.len(), &mut rng);
        loop {
            result.states += 1;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            state.hash(&mut h);
            seen.insert(h.finish());
            result.max_depth = result.max_depth.max(actions.len());
            for (i, p) in properties.iter().enumerate() {
                let hit = match p.expectation {
                    Expectation::Always => !(p.condition)(model, &state),
                    Expectation::Sometimes => (p.condition)(model, &state),
                    Expectation::Eventually => false,
                };
                if hit && found[i].is_none() {
                    found[i] = Path::from_actions(model, inits[start].clone(), &actions);
                    if stop_on_violation && p.expectation == Expectation::Always {
                        break 'walks;
                    }
                }
            }
            if found.iter().all(Option::is_some) || result.states >= max_states {
                break 'walks;
            }
            if result.states % 1024 == 0 && stop() {
                break 'walks;
            }
            if last_report.elapsed().as_secs() >= 2 {
                progress(result.states, seen.len(), result.max_depth);
                last_report = Instant::now();
            }
            if actions.len() >= WALK_STEPS_MAX {
                break;
            }
            let mut candidates = Vec::new();
            model.actions(&state, &mut candidates);
            let mut next = Vec::new();
            for a in candidates {
                if let Some(s) = model.next_state(&state, a.clone()) {
                    if model.within_boundary(&s) {
                        next.push((a, s));
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            if weather.left == 0 {
                weather = Weather::new(state.actor_states.len(), &mut rng);
            }
            weather.left -= 1;
            let weights: Vec<u64> = next.iter().map(|(a, _)| weather.weight(a)).collect();
            let mut pick = rng.next() % weights.iter().sum::<u64>();
            let mut chosen = 0;
            for (i, w) in weights.iter().enumerate() {
                if pick < *w {
                    chosen = i;
                    break;
                }
                pick -= w;
            }
            let (a, s) = next.swap_remove(chosen);
            actions.push(a);
            state = s;
        }
    }
    result.unique = seen.len();
    for (p, path) in properties.iter().zip(found) {
        if let Some(path) = path {
            result.discoveries.push((p.name, path));
        }
    }
    result
}
