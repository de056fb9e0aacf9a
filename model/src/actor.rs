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
//! modelled: the client's request stays in the network and reaches every
//! server, so the hint would add nothing).

use kraftwerk_specs::invariants::NodeView;
use kraftwerk_specs::log::Log;
use kraftwerk_specs::message::{ClientReply, ClientRequest, Message};
use kraftwerk_specs::raft::{self, Action, HardState, Input, Timer};
use kraftwerk_specs::types::{NodeId, RenameNodes, RequestId};
use stateright::actor::{model_timeout, Actor, Id, Out};
use stateright::{Rewrite, RewritePlan};
use std::borrow::Cow;
use std::sync::Arc;

/// What a server keeps on disk: hard state and log, plus (a model-only
/// ghost) how many times it has restarted, to bound crashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Durable {
    /// Term and vote.
    pub hard: HardState,
    /// The log.
    pub log: Log,
    /// Restarts so far (ghost, for the crash bound).
    pub restarts: u8,
}

/// One server: the protocol node, the durable copy the adapter maintains
/// from the persistence actions, and a ghost flag for a "sometimes"
/// property.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerState {
    /// The protocol core.
    pub node: raft::Node,
    /// What has been persisted (equal to `node`'s durable part unless a bug
    /// skips a persist).
    pub durable: Durable,
    /// Ghost: this server once truncated a conflicting suffix of its log.
    pub truncated: bool,
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
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActorState {
    /// A server.
    Server(ServerState),
    /// A client.
    Client(ClientState),
}

/// The actors of the model.
#[derive(Clone, Debug)]
pub enum KwActor {
    /// A server running the core.
    Server {
        /// Settings shared by all servers.
        cfg: Arc<raft::Config>,
    },
    /// A client proposing `values` requests to every server.
    Client {
        /// Number of servers (the recipients).
        servers: usize,
        /// Requests to propose.
        values: usize,
    },
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
    fn step(&self, input: Input, servers: usize, out: &mut Out<KwActor>) -> Option<ServerState> {
        let mut next = self.clone();
        let mut actions = Vec::new();
        next.node.step(input, &mut actions);
        debug_assert_eq!(next.node.validate(), Ok(()));
        let mut saved = false;
        for action in actions {
            match action {
                Action::PersistHardState(h) => {
                    next.durable.hard = h;
                    saved = true;
                }
                Action::TruncateLog { last } => {
                    if last < next.durable.log.last_index() {
                        next.truncated = true;
                    }
                    next.durable.log.truncate(last);
                    saved = true;
                }
                Action::AppendLog(entries) => {
                    for e in entries {
                        next.durable.log.push(e);
                    }
                    saved = true;
                }
                Action::Send { to, msg } => out.send(actor_id(to), Msg(msg)),
                Action::SetTimer(t) => out.set_timer(t, model_timeout()),
                Action::CancelTimer(t) => out.cancel_timer(t),
                Action::Apply { .. } => {}
                Action::Reply {
                    request,
                    index,
                    term,
                } => out.send(
                    Id::from(servers + request.client as usize),
                    Msg(Message::ClientReply(ClientReply {
                        request,
                        index,
                        term,
                    })),
                ),
            }
        }
        if saved {
            out.save(next.durable.clone());
        }
        (next != *self).then_some(next)
    }
}

impl KwActor {
    fn servers(&self, state: &ServerState) -> usize {
        state.node.cfg.voters.voters().len()
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
            KwActor::Server { cfg } => {
                let durable = storage.clone().map_or(Durable::default(), |d| Durable {
                    restarts: d.restarts + 1,
                    ..d
                });
                let mut actions = Vec::new();
                let node = raft::Node::restore(
                    node_id(id),
                    cfg.clone(),
                    durable.hard,
                    durable.log.clone(),
                    &mut actions,
                );
                for a in actions {
                    if let Action::SetTimer(t) = a {
                        o.set_timer(t, model_timeout());
                    }
                }
                if storage.is_some() {
                    o.save(durable.clone());
                }
                ActorState::Server(ServerState {
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
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<ActorState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        if let ActorState::Server(s) = state.as_ref() {
            let input = Input::Receive {
                from: node_id(src),
                msg: msg.0,
            };
            if let Some(next) = s.step(input, self.servers(s), o) {
                *state.to_mut() = ActorState::Server(next);
            }
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<ActorState>, timer: &Timer, o: &mut Out<Self>) {
        if let ActorState::Server(s) = state.as_ref() {
            if let Some(next) = s.step(Input::Timeout(*timer), self.servers(s), o) {
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
            ActorState::Client(_) => None,
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
                    node: s.node.rename_nodes(&f),
                    durable: s.durable.rewrite(plan),
                    truncated: s.truncated,
                })
            }
            ActorState::Client(c) => ActorState::Client(c.clone()),
        }
    }
}

impl Rewrite<Id> for Durable {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        Durable {
            hard: self.hard.rename_nodes(&renamer(plan)),
            log: self.log.clone(),
            restarts: self.restarts,
        }
    }
}

/// The model's ghost history: the specs' [`History`] behind a newtype so
/// that stateright's `Rewrite` can be implemented for it.
///
/// [`History`]: kraftwerk_specs::invariants::History
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost(pub kraftwerk_specs::invariants::History);

impl Rewrite<Id> for Ghost {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        Ghost(self.0.rename_nodes(&renamer(plan)))
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
