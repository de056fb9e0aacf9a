//! # kraftwerk-model
//!
//! The stateright model of Kraftwerk's protocol cores and the `kraftwerk`
//! command line. The protocol logic lives in `kraftwerk-specs`; this crate
//! only adapts it to stateright's `Actor` interface ([`actor`]), chooses
//! bounds ([`config`]) and each catalogued bug's ([`bugs`]), checks the
//! specs' registry of properties ([`model`]), runs the checker within its
//! limits ([`run`], [`limits`]) and prints what it found ([`trace`],
//! [`report`]).

pub mod actor;
pub mod bugs;
pub mod cli;
pub mod config;
pub mod engine;
pub mod explore;
pub mod limits;
pub mod model;
pub mod report;
pub mod run;
pub mod trace;
pub mod walk;
pub mod wrap;
