//! The stateright `Actor` adapter over the protocol core.
//!
//! Servers are actors `0..servers`; one client actor follows them. The
//! adapter turns each stateright event into an `Input`, runs `Node::step`,
//! and maps the returned `Action`s onto `Out`:
//!
//! | core action              | stateright                                   |
//! |--------------------------|----------------------------------------------|
//! | `Send`                   | `o.send`                                     |
//! | `SetTimer`/`CancelTimer` | `o.set_timer` / `o.cancel_timer`             |
//! | `Persist…`/`…Log`        | applied to the durable copy, then `o.save`   |
//! | `Reply`                  | a `ClientReply` sent to the client actor     |
//! | `Apply`                  | nothing (the log is the state machine)       |
//!
//! A crash loses the actor state; recovery calls `on_start` with the last
//! saved [`Durable`] state, so exactly what the core persisted survives.
//! A non-leader ignores a client request (the NotLeader reply is not
//! modelled: the client sends its request to every server, so the hint
//! would add nothing).
//!
//! A delivery that changes nothing is not a step (stateright prunes it), so
//! a message the receiver ignores stays in flight and may be delivered
//! later, when the receiver may act on it: a delay, which every network
//! allows. Consuming ignored messages instead was measured: it let
//! heartbeats and their answers cycle freely and grew the 1-term Raft
//! model from 8.6 thousand to 2.9 million states.

use crate::config::Plan;
use kraftwerk_specs::invariants::NodeView;
use kraftwerk_specs::message::{ClientReply, ClientRequest, MembershipRequest, Message};
use kraftwerk_specs::node::{Action, Input, Timer};
pub use kraftwerk_specs::protocol::{AnyConfig as Core, AnyNode};
use kraftwerk_specs::quorum::Majority;
use kraftwerk_specs::types::{NodeId, RenameNodes, RequestId};
use stateright::actor::{model_timeout, Actor, Id, Out};
use stateright::{Rewrite, RewritePlan};
use std::borrow::Cow;

/// What a server keeps on disk: the core's [`specs::node::Durable`] (hard
/// state and log), plus (a model-only ghost) how many times it has
/// restarted, to bound crashes.
///
/// [`specs::node::Durable`]: kraftwerk_specs::node::Durable
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Durable {
    /// Term, vote and log, changed only by the durable-state rule
    /// ([`kraftwerk_specs::node::Durable::apply`]).
    pub disk: kraftwerk_specs::node::Durable,
    /// Restarts so far (ghost, for the crash bound).
    pub restarts: u8,
}

/// One server: the protocol node, the durable copy the adapter maintains
/// from the persistence actions, and a ghost flag for a "sometimes"
/// property.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerState {
    /// The server's symmetry class ([`crate::model::symmetry_classes`]).
    /// First, so that symmetry sorts servers by class and only ever swaps
    /// servers of one class: bootstrap voters, spare servers, observers,
    /// and each server the membership plan names on its own. Constant per
    /// server: it adds no states.
    pub class: u8,
    /// The protocol core.
    pub node: AnyNode,
    /// What has been persisted (equal to `node`'s durable part unless a bug
    /// skips a persist).
    pub durable: Durable,
    /// Ghost: this server once truncated a suffix of its log.
    pub truncated: bool,
}

/// The administrator: how far through its plan it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdminState {
    /// Bit `i` is set once request `i` (plan order) is answered.
    pub answered: u16,
}

/// The client: it proposes its requests at start and waits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientState {
    /// Its client number (ordered first, so clients never swap places under
    /// symmetry).
    pub index: u64,
}

/// The state of any actor. Servers order before clients, which keeps the
/// symmetry permutation within the servers.
// Boxing the server would add an allocation to every state clone, the
// checker's hottest path; the client variant is rare and small.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActorState {
    /// A server.
    Server(ServerState),
    /// A client.
    Client(ClientState),
    /// The administrator.
    Admin(AdminState),
}

/// The actors of the model.
#[derive(Clone, Debug)]
pub enum KwActor {
    /// A server running the core.
    Server {
        /// Settings shared by all servers.
        core: Core,
        /// Its symmetry class.
        class: u8,
        /// False: the heartbeat timer is never armed (a model bound, see
        /// `ModelConfig::heartbeats`).
        heartbeats: bool,
        /// Actor id of client 0 (= number of servers).
        client_base: usize,
    },
    /// A client proposing `values` requests to every server.
    Client {
        /// Number of servers (the recipients).
        servers: usize,
        /// Requests to propose.
        values: usize,
    },
    /// The administrator: it asks every server for the plan's membership
    /// changes, a group at a time (client number 1 in request ids).
    Admin {
        /// Number of servers (the recipients).
        servers: usize,
        /// The plan.
        plan: Plan,
        /// The voters once the whole plan is carried out (computed once:
        /// the "sometimes" property `final-config-committed` reads it in
        /// every state).
        goal: Majority,
    },
}

/// The administrator's client number in request ids.
pub const ADMIN_CLIENT: u64 = 1;

/// The group of the first request not answered yet in `answered`, or the
/// number of groups when everything is answered.
fn current_group(plan: &Plan, answered: u16) -> usize {
    let mut seq = 0;
    for (g, group) in plan.0.iter().enumerate() {
        for _ in group {
            if answered & (1 << seq) == 0 {
                return g;
            }
            seq += 1;
        }
    }
    plan.0.len()
}

/// Sends every request of group `g` to every server.
fn send_group(plan: &Plan, g: usize, servers: usize, o: &mut Out<KwActor>) {
    let first: usize = plan.0[..g].iter().map(|grp| grp.len()).sum();
    for (k, changes) in plan.0[g].iter().enumerate() {
        let msg = Msg(Message::MembershipRequest(MembershipRequest {
            request: RequestId {
                client: ADMIN_CLIENT,
                seq: (first + k) as u64,
            },
            changes: changes.clone(),
        }));
        for s in 0..servers {
            o.send(Id::from(s), msg.clone());
        }
    }
}

/// Converts a stateright id to a node id.
pub fn node_id(id: Id) -> NodeId {
    NodeId(usize::from(id) as u32)
}

fn actor_id(n: NodeId) -> Id {
    Id::from(n.0 as usize)
}

impl ServerState {
    /// Runs one input through the core and maps the actions onto `out`.
    /// Returns `None` when nothing changed and nothing was emitted.
    fn step(
        &self,
        input: Input,
        client_base: usize,
        heartbeats: bool,
        out: &mut Out<KwActor>,
    ) -> Option<ServerState> {
        let mut next = self.clone();
        let actions = next.node.step(input);
        debug_assert_eq!(next.node.validate(), Ok(()));
        let mut saved = false;
        for action in actions {
            if let Action::TruncateLog { last } = action {
                if last < next.durable.disk.log.last_index() {
                    next.truncated = true;
                }
            }
            if next.durable.disk.apply(&action) {
                saved = true;
                continue;
            }
            match action {
                Action::Send { to, msg } => out.send(actor_id(to), Msg(msg)),
                Action::SetTimer(t) if t == Timer::Heartbeat && !heartbeats => {}
                Action::SetTimer(t) => out.set_timer(t, model_timeout()),
                Action::CancelTimer(t) => out.cancel_timer(t),
                // The client sends each request to every server: a leader
                // hint would tell it nothing.
                Action::Apply { .. } | Action::Refuse { .. } | Action::NotLeader { .. } => {}
                Action::Reply {
                    request,
                    index,
                    term,
                } => out.send(
                    Id::from(client_base + request.client as usize),
                    Msg(Message::ClientReply(ClientReply {
                        request,
                        index,
                        term,
                    })),
                ),
                Action::PersistHardState(_) | Action::TruncateLog { .. } | Action::AppendLog(_) => {
                    unreachable!("applied to the disk above")
                }
            }
        }
        if saved {
            out.save(next.durable.clone());
        }
        (next != *self).then_some(next)
    }
}

impl Actor for KwActor {
    type Msg = Msg;
    type Timer = Timer;
    type State = ActorState;
    type Storage = Durable;
    type Random = ();

    fn on_start(&self, id: Id, storage: &Option<Durable>, o: &mut Out<Self>) -> ActorState {
        match self {
            KwActor::Server {
                core,
                class,
                heartbeats,
                ..
            } => {
                let durable = storage.clone().map_or(Durable::default(), |d| Durable {
                    restarts: d.restarts + 1,
                    ..d
                });
                let (node, actions) = core.restore(node_id(id), durable.disk.clone());
                for a in actions {
                    match a {
                        Action::SetTimer(t) if t == Timer::Heartbeat && !heartbeats => {}
                        Action::SetTimer(t) => o.set_timer(t, model_timeout()),
                        Action::Send { to, msg } => o.send(actor_id(to), Msg(msg)),
                        _ => {}
                    }
                }
                if storage.is_some() {
                    o.save(durable.clone());
                }
                ActorState::Server(ServerState {
                    class: *class,
                    node,
                    durable,
                    truncated: false,
                })
            }
            KwActor::Client { servers, values } => {
                let index = (usize::from(id) - servers) as u64;
                for seq in 0..*values as u64 {
                    let msg = Msg(Message::ClientRequest(ClientRequest {
                        request: RequestId { client: index, seq },
                        data: vec![seq as u8],
                    }));
                    for s in 0..*servers {
                        o.send(Id::from(s), msg.clone());
                    }
                }
                ActorState::Client(ClientState { index })
            }
            KwActor::Admin { servers, plan, .. } => {
                if !plan.0.is_empty() {
                    send_group(plan, 0, *servers, o);
                }
                ActorState::Admin(AdminState { answered: 0 })
            }
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<ActorState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        if let (
            KwActor::Admin { servers, plan, .. },
            ActorState::Admin(a),
            Message::ClientReply(reply),
        ) = (self, state.as_ref(), &msg.0)
        {
            let bit = 1u16 << reply.request.seq;
            if a.answered & bit != 0 {
                return;
            }
            let answered = a.answered | bit;
            let (before, after) = (
                current_group(plan, a.answered),
                current_group(plan, answered),
            );
            if after > before && after < plan.0.len() {
                send_group(plan, after, *servers, o);
            }
            *state.to_mut() = ActorState::Admin(AdminState { answered });
            return;
        }
        let input = Input::Receive {
            from: node_id(src),
            msg: msg.0,
        };
        self.step_server(state, input, o);
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<ActorState>, timer: &Timer, o: &mut Out<Self>) {
        self.step_server(state, Input::Timeout(*timer), o);
    }
}

impl KwActor {
    /// Runs `input` through a server's core (clients and the administrator
    /// take no such input); the state changes only if the step did.
    fn step_server(&self, state: &mut Cow<ActorState>, input: Input, o: &mut Out<Self>) {
        if let (
            KwActor::Server {
                client_base,
                heartbeats,
                ..
            },
            ActorState::Server(s),
        ) = (self, state.as_ref())
        {
            if let Some(next) = s.step(input, *client_base, *heartbeats, o) {
                *state.to_mut() = ActorState::Server(next);
            }
        }
    }
}

impl ActorState {
    /// The server state, if this is a server.
    pub fn server(&self) -> Option<&ServerState> {
        match self {
            ActorState::Server(s) => Some(s),
            ActorState::Client(_) | ActorState::Admin(_) => None,
        }
    }

    /// What the properties see of a server.
    pub fn view(&self) -> Option<NodeView<'_>> {
        self.server().map(|s| s.node.view())
    }
}

/// Applies a stateright rewrite plan (a permutation of actor ids) to node ids.
fn renamer<S>(plan: &RewritePlan<Id, S>) -> impl Fn(NodeId) -> NodeId + '_ {
    move |n| node_id(plan.rewrite(&actor_id(n)))
}

impl Rewrite<Id> for ActorState {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        match self {
            ActorState::Server(s) => {
                let f = renamer(plan);
                ActorState::Server(ServerState {
                    class: s.class,
                    node: s.node.rename_nodes(&f),
                    durable: s.durable.rewrite(plan),
                    truncated: s.truncated,
                })
            }
            ActorState::Client(c) => ActorState::Client(c.clone()),
            ActorState::Admin(a) => ActorState::Admin(a.clone()),
        }
    }
}

impl Rewrite<Id> for Durable {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        let f = renamer(plan);
        Durable {
            disk: kraftwerk_specs::node::Durable {
                hard: self.disk.hard.rename_nodes(&f),
                // Like the node's own log (`Log::rename_nodes`): shared
                // unless a configuration entry names a renamed server.
                log: self.disk.log.rename_nodes(&f),
            },
            restarts: self.restarts,
        }
    }
}

/// The model's ghost history: the specs' [`History`] behind a newtype so
/// that stateright's `Rewrite` can be implemented for it.
///
/// [`History`]: kraftwerk_specs::invariants::History
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Ghost(pub kraftwerk_specs::invariants::History);

impl Rewrite<Id> for Ghost {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        Ghost(self.0.rename_nodes(&renamer(plan)))
    }
}

// Compact one-line `Debug` forms: the Explorer prints states with `{:#?}`,
// and derived output spreads one server over dozens of lines. These read
// like the counterexample traces (`trace::server_fields`), whatever the
// formatter's flags.

/// `t2 vote n0 log [1/c0#0] restarts 1`: what is on disk.
impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hard = self.disk.hard;
        let vote = hard.voted_for.map_or("-".into(), |v| v.to_string());
        write!(f, "t{} vote {vote}", hard.term)?;
        if let Some(l) = hard.leader {
            write!(f, " leader {l}")?;
        }
        write!(f, " log {}", crate::trace::log_text(&self.disk.log))?;
        if self.restarts > 0 {
            write!(f, " restarts {}", self.restarts)?;
        }
        Ok(())
    }
}

/// `n0 leader (match n1:2 n2:1) t2 vote n0 log [1/c0#0 2/noop] commit 1`
/// (Raft) or `n1 follower-of n0 e2 vote n0 log [1/lc] hwm 1` (KRaft), then
/// the disk when it differs from memory (`| disk t1 vote - log []`), the
/// restart count, and ghost flags. Multi-word roles are hyphenated
/// (`follower-of n0`, `voted-for n1`) so that each field reads as one word.
impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (id, hard, log) = (self.node.id(), self.node.hard(), self.node.log());
        write!(f, "{id}")?;
        if !self.node.is_voter() {
            write!(f, " {}", self.node.kind().non_voter_word())?;
        }
        let fields = crate::trace::server_fields(self);
        // The role (or KRaft state) names the known leader already when it
        // is "follower of X"; repeating "leader X" would only add noise.
        let role = fields.first().map(|(_, v)| v.as_str()).unwrap_or("");
        for (name, value) in &fields {
            match *name {
                "role" | "state" => {
                    let role = value.replacen("follower of", "follower-of", 1).replacen(
                        "voted for",
                        "voted-for",
                        1,
                    );
                    write!(f, " {role}")?
                }
                "term" => write!(f, " t{value}")?,
                "epoch" => write!(f, " e{value}")?,
                "leader" if value == "-" || role.starts_with("follower of") => {}
                _ => write!(f, " {name} {value}")?,
            }
        }
        if self.durable.disk.hard != hard || self.durable.disk.log != *log {
            write!(f, " | disk {:?}", self.durable)?;
        } else if self.durable.restarts > 0 {
            write!(f, " restarts {}", self.durable.restarts)?;
        }
        if self.truncated {
            write!(f, " (truncated)")?;
        }
        Ok(())
    }
}

/// A server's line, or `client0`.
impl std::fmt::Debug for ActorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActorState::Server(s) => s.fmt(f),
            ActorState::Client(c) => write!(f, "client{}", c.index),
            ActorState::Admin(a) => write!(f, "admin answered {:#b}", a.answered),
        }
    }
}

/// The ghost history on one line, only its non-empty parts:
/// `leaders t1: n1 n2; sent t1: 1=1/c0#0; acked 1/c0#0 in t1`.
impl std::fmt::Debug for Ghost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::trace::join as words;
        let h = &self.0;
        let mut parts = Vec::new();
        for (t, ls) in &h.leaders {
            parts.push(format!("leaders t{t}: {}", words(ls)));
        }
        for (t, by_index) in &h.sent {
            let sent = by_index
                .iter()
                .map(|(i, es)| format!("{i}={}", words(es)))
                .collect::<Vec<_>>();
            parts.push(format!("sent t{t}: {}", sent.join(" ")));
        }
        for ((i, r), t) in &h.acked {
            parts.push(format!("acked {i}/{r} in t{t}"));
        }
        if !h.max_epoch_sent.is_empty() {
            let m = h.max_epoch_sent.iter().map(|(n, e)| format!("{n}:e{e}"));
            parts.push(format!("max epoch sent {}", words(m)));
        }
        if !h.hwm_sent.is_empty() {
            let m = h.hwm_sent.iter().map(|(e, i)| format!("e{e}:{i}"));
            parts.push(format!("hwm sent {}", words(m)));
        }
        if let Some(r) = &h.hwm_regression {
            parts.push(format!("hwm regression {r:?}"));
        }
        if !h.served_committed.is_empty() {
            let m = h
                .served_committed
                .iter()
                .map(|(i, es)| format!("{i}={}", words(es)));
            parts.push(format!("served committed {}", words(m)));
        }
        if parts.is_empty() {
            write!(f, "(empty)")
        } else {
            write!(f, "{}", parts.join("; "))
        }
    }
}

/// A message on the model's network: the specs' [`Message`] behind a
/// newtype so that stateright's `Rewrite` can be implemented for it. Its
/// `Debug` is the one-line trace form, which the Explorer shows.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Msg(pub Message);

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Rewrite<Id> for Msg {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        Msg(self.0.rename_nodes(&renamer(plan)))
    }
}
