//! Models that wrap [`KwModel`] (the checker's [`crate::limits::Guarded`],
//! the Explorer's [`crate::explore::View`]) and carry its properties.
//!
//! A stateright property's condition is a `fn(&M, &M::State) -> bool`
//! pointer, not a closure, so a wrapper cannot close over the wrapped
//! model's conditions: it gets one function per property index instead
//! ([`condition`]), each calling the wrapped condition of that index.

use crate::model::{KwModel, KwState};
use stateright::{Model, Property};

/// The most properties a wrapper can carry.
pub const PROPERTIES_MAX: usize = 32;

/// A model around a [`KwModel`].
pub trait Wraps: Model<State = KwState> + Sized {
    /// The wrapped model.
    fn inner(&self) -> &KwModel;
    /// The wrapped model's properties, in its order.
    fn inner_properties(&self) -> &[Property<KwModel>];
}

/// Property `I` of the wrapped model.
fn condition<W: Wraps, const I: usize>(m: &W, s: &KwState) -> bool {
    (m.inner_properties()[I].condition)(m.inner(), s)
}

macro_rules! conditions {
    ($w:ty; $($i:literal)*) => { [$(condition::<$w, $i> as fn(&$w, &KwState) -> bool),*] };
}

/// The wrapped model's properties, as properties of the wrapper.
pub fn properties<W: Wraps>(w: &W) -> Vec<Property<W>> {
    let table: [fn(&W, &KwState) -> bool; PROPERTIES_MAX] = conditions!(W;
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    );
    w.inner_properties()
        .iter()
        .zip(table)
        .map(|(p, condition)| Property {
            expectation: p.expectation.clone(),
            name: p.name,
            condition,
        })
        .collect()
}

/// `inner`'s properties, or an error if a wrapper cannot carry them all.
pub fn checked_properties(inner: &KwModel) -> Result<Vec<Property<KwModel>>, String> {
    let properties = inner.properties();
    if properties.len() > PROPERTIES_MAX {
        return Err(format!(
            "the model has {} properties; a wrapper carries at most {PROPERTIES_MAX}",
            properties.len()
        ));
    }
    Ok(properties)
}
