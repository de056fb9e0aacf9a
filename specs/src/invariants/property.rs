//! What a registered property is: a name, an expectation, a predicate over
//! a [`World`], the protocols it is about, and the [`Need`]s without which a
//! bounded run cannot reach what it looks for. Drivers iterate
//! [`super::REGISTRY`]; none of them names a property.

use super::{History, NodeView};
use crate::membership::Mode;
use crate::protocol::ProtocolKind;
use crate::quorum::Majority;
use crate::types::NodeId;

/// How a property is judged over the reachable states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// A safety property: it must hold in every reachable state.
    Always,
    /// A witness: it must hold in at least one reachable state, so that the
    /// safety properties it partners cannot hold vacuously.
    Sometimes,
}

/// Everything a property reads of one state: the live servers and what a
/// driver records beside them.
#[derive(Clone, Copy, Debug)]
pub struct World<'a> {
    /// The live servers (a crashed server's stale state is not here).
    pub live: &'a [NodeView<'a>],
    /// The ghost record of what was sent.
    pub history: &'a History,
    /// Index = server id: true while that server is down. Ids past the end
    /// are up.
    pub crashed: &'a [bool],
    /// The live servers that once removed a conflicting suffix of their log
    /// (a ghost flag the driver keeps per server).
    pub truncated: &'a [NodeId],
    /// The voters once the administrator's whole membership plan is carried
    /// out; `None` without membership change.
    pub final_voters: Option<&'a Majority>,
}

impl<'a> World<'a> {
    /// A world of `live` servers and `history` alone: nobody down, nothing
    /// truncated, no membership plan (what unit tests of the cores have).
    pub fn new(live: &'a [NodeView<'a>], history: &'a History) -> World<'a> {
        World {
            live,
            history,
            crashed: &[],
            truncated: &[],
            final_voters: None,
        }
    }

    /// True while server `id` is down.
    pub fn is_down(&self, id: NodeId) -> bool {
        self.crashed.get(id.0 as usize).copied().unwrap_or(false)
    }
}

/// What a bounded run can reach: the model bounds a [`Need`] is judged
/// against. A driver fills it from its own configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The protocol under check.
    pub protocol: ProtocolKind,
    /// Bootstrap voters.
    pub voters: usize,
    /// The highest term (epoch) any server may reach.
    pub max_term: u64,
    /// Client requests.
    pub values: usize,
    /// Crashes allowed over a run.
    pub crashes: usize,
    /// KRaft servers that fetch but never vote.
    pub observers: usize,
    /// Servers that a membership plan adds (not bootstrap voters).
    pub spares: usize,
    /// The membership-change mode, `None` for fixed voters.
    pub reconfig: Option<Mode>,
    /// KRaft: a leader resigns without fetches from a majority.
    pub check_quorum: bool,
    /// The membership plan removes a bootstrap voter.
    pub removes_a_voter: bool,
}

/// One thing a property needs for what it looks for to be reachable. A
/// "sometimes" property whose needs a run does not meet is left out of that
/// run rather than reported NOT FOUND.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A leader of a later term than another: a second term and two voters
    /// (a lone voter never loses its leadership, whatever the bound).
    NewLeader,
    /// A second term, even with one bootstrap voter (a server the plan adds
    /// can start it).
    SecondTerm,
    /// A client request.
    ClientRequest,
    /// A crash.
    Crash,
    /// Three voters: with two, the one holding an extra entry never votes
    /// for a candidate without it, so no conflicting suffix is ever removed.
    ThreeVoters,
    /// A reason for a KRaft leader to resign: a crash or check-quorum.
    Resignation,
    /// An observer.
    Observer,
    /// Membership change, in either mode.
    Reconfig,
    /// Membership change by joint consensus.
    JointMode,
    /// A membership plan that removes a bootstrap voter.
    VoterRemoval,
    /// A server that the membership plan adds.
    Spare,
}

impl Need {
    /// True when `scope` can reach what this need stands for.
    pub fn met(self, scope: &Scope) -> bool {
        match self {
            Need::NewLeader => scope.max_term >= 2 && scope.voters >= 2,
            Need::SecondTerm => scope.max_term >= 2,
            Need::ClientRequest => scope.values > 0,
            Need::Crash => scope.crashes > 0,
            Need::ThreeVoters => scope.voters >= 3,
            Need::Resignation => scope.crashes > 0 || scope.check_quorum,
            Need::Observer => scope.observers > 0,
            Need::Reconfig => scope.reconfig.is_some(),
            Need::JointMode => scope.reconfig == Some(Mode::Joint),
            Need::VoterRemoval => scope.removes_a_voter,
            Need::Spare => scope.spares > 0,
        }
    }
}

/// Raft and KRaft.
pub const BOTH: &[ProtocolKind] = &ProtocolKind::ALL;
/// Raft only.
pub const RAFT: &[ProtocolKind] = &[ProtocolKind::Raft];
/// KRaft only.
pub const KRAFT: &[ProtocolKind] = &[ProtocolKind::Kraft];

/// One registered property.
#[derive(Clone, Copy, Debug)]
pub struct Property {
    /// Its name in reports (unique: stateright panics on a duplicate).
    pub name: &'static str,
    /// Always (safety) or sometimes (a witness).
    pub expectation: Expectation,
    /// True when the property holds in a state.
    pub holds: fn(&World<'_>) -> bool,
    /// The protocols it is checked for.
    pub protocols: &'static [ProtocolKind],
    /// What a run must allow for the property to be checked (a safety
    /// property's needs say when it is meaningful at all).
    pub needs: &'static [Need],
    /// A safety property's "sometimes" partners: witnesses that the states
    /// it is about are reached. Empty for a "sometimes" property.
    pub partners: &'static [&'static Property],
}

impl Property {
    /// A safety property of `protocols` with no needs, kept from vacuity by
    /// `partners`.
    pub const fn always(
        name: &'static str,
        protocols: &'static [ProtocolKind],
        partners: &'static [&'static Property],
        holds: fn(&World<'_>) -> bool,
    ) -> Property {
        Property {
            name,
            expectation: Expectation::Always,
            holds,
            protocols,
            needs: &[],
            partners,
        }
    }

    /// A "sometimes" property of `protocols` that a run checks only when it
    /// meets `needs`.
    pub const fn sometimes(
        name: &'static str,
        protocols: &'static [ProtocolKind],
        needs: &'static [Need],
        holds: fn(&World<'_>) -> bool,
    ) -> Property {
        Property {
            name,
            expectation: Expectation::Sometimes,
            holds,
            protocols,
            needs,
            partners: &[],
        }
    }

    /// True when a run of `scope` checks this property.
    pub fn applies(&self, scope: &Scope) -> bool {
        self.protocols.contains(&scope.protocol) && self.needs.iter().all(|n| n.met(scope))
    }

    /// Evaluates the property over live `nodes` and `history` alone
    /// ([`World::new`]).
    pub fn holds_on(&self, nodes: &[NodeView<'_>], history: &History) -> bool {
        (self.holds)(&World::new(nodes, history))
    }
}
