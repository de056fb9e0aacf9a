//! Random walks over the model, seeded, for configurations too large to
//! exhaust (`--strategy simulation`).
//!
//! stateright 0.31's own simulation checker records discoveries as action
//! indices and rebuilds the path by replaying them, which fails (and
//! panics) for some paths of this model. This walker keeps the actions it
//! took and rebuilds each discovery with `Path::from_actions`, so every
//! counterexample it reports is a real path. It never proves absence.

use crate::model::{KwModel, KwState};
use stateright::{Expectation, Model, Path};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::Instant;

/// The longest walk before starting again from an initial state.
const WALK_STEPS_MAX: usize = 400;

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

/// Walks at random from the initial states until `max_states` states
/// were visited (or every property has a discovery, or, with
/// `stop_on_violation`, an "always" property fails). `progress` is called
/// with (states, distinct, deepest) every 2 seconds.
pub fn random_walks(
    model: &KwModel,
    seed: u64,
    max_states: usize,
    stop_on_violation: bool,
    mut progress: impl FnMut(usize, usize, usize),
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
            let (a, s) = next.swap_remove(rng.below(next.len()));
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
