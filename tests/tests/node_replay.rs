//! Replay: a recorded run of the runtime is accepted by the model's
//! stateright actor, step by step.
//!
//! 1. Record. A seeded run of three nodes drives the runtime's step path
//!    ([`AnyNode::step_batch`] on the runtime's
//!    [`kraftwerk_impl::core::restore`]d node) and carries out the durable
//!    actions with the runtime's own storage code
//!    ([`kraftwerk_impl::server::persist_action`] and `sync` on a real
//!    data directory). Each event records the input, the actions, the node
//!    after it and what the data directory holds afterwards (read back
//!    with [`Storage::open`]). One node is crashed and restored from its
//!    files along the way.
//! 2. Replay. The recording goes through the model's actor
//!    ([`KwActor::Server`], the adapter `kraftwerk check` explores) with
//!    stateright's own entry points: `on_start` (with the storage the
//!    actor itself saved, on a restart), `on_msg` (a peer's message, or a
//!    client's `ClientRequest` for a proposal) and `on_timeout`. At every
//!    step the model must accept the step — the message was sent by the
//!    model's actors and is still in flight, the timer is armed in the
//!    model — and emit exactly what the runtime did: the same sends
//!    (replies go to the client actor as `ClientReply`) and timer
//!    commands in the same order, one `save` exactly when the runtime
//!    persisted, holding what the runtime's data directory holds, and the
//!    same node.
//!
//! Both sides run the production configuration
//! ([`AnyConfig::production`], which `kraftwerk-node` runs).

use kraftwerk_impl::core::{AnyNode, Protocol};
use kraftwerk_impl::server::persist_action;
use kraftwerk_impl::storage::Storage;
use kraftwerk_model::actor::{ActorState, Durable as ModelDurable, KwActor, Msg};
use kraftwerk_sim::Rng;
use kraftwerk_specs::log::Log;
use kraftwerk_specs::message::{ClientReply, ClientRequest, Message};
use kraftwerk_specs::node::{Action, Durable, Input, Timer};
use kraftwerk_specs::protocol::AnyConfig;
use kraftwerk_specs::types::{NodeId, RequestId};
use kraftwerk_tests::node::TempDir;
use stateright::actor::{Actor, Command, Id, Out};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The servers are stateright actors 0..3 (the model's ids); the client
/// actor of client `c` is `CLIENT_BASE + c`.
const IDS: [NodeId; 3] = [NodeId(0), NodeId(1), NodeId(2)];
const CLIENT_BASE: usize = IDS.len();

/// What happened to one node, as the runtime did it.
struct Event {
    node: NodeId,
    /// `None`: the node (re)started from its data directory.
    input: Option<Input>,
    actions: Vec<Action>,
    /// The node after the event.
    after: AnyNode,
    /// The data directory after the event, when the event persisted (or
    /// was a start).
    disk: Option<Durable>,
}

fn read_disk(dir: &Path) -> Durable {
    let (_, rec) = Storage::open(dir).expect("reopen");
    Durable {
        hard: rec.hard,
        log: Log::from_entries(rec.entries),
    }
}

/// Runs the seeded simulation on the runtime path and returns the
/// recording.
fn record(p: Protocol, seed: u64, steps: usize) -> Vec<Event> {
    let dir = TempDir::new("replay");
    let dir_of = |id: NodeId| dir.path().join(id.to_string());
    let mut rng = Rng::new(seed);
    let mut events = Vec::new();
    let mut nodes = BTreeMap::new();
    let mut stores = BTreeMap::new();
    let mut timers: BTreeMap<NodeId, BTreeSet<Timer>> = BTreeMap::new();
    let mut net: Vec<(NodeId, NodeId, Message)> = Vec::new();
    // Carries out `actions` as the server does (persist, fsync, then the
    // rest) and returns the data directory if anything was persisted.
    let carry_out = |id: NodeId,
                     actions: &[Action],
                     stores: &mut BTreeMap<NodeId, Storage>,
                     timers: &mut BTreeMap<NodeId, BTreeSet<Timer>>,
                     net: &mut Vec<(NodeId, NodeId, Message)>| {
        let s = stores.get_mut(&id).expect("store");
        let mut persisted = false;
        for a in actions {
            persisted |= persist_action(s, a).expect("persist");
            match a {
                Action::SetTimer(t) => {
                    timers.entry(id).or_default().insert(*t);
                }
                Action::CancelTimer(t) => {
                    timers.entry(id).or_default().remove(t);
                }
                Action::Send { to, msg } => net.push((id, *to, msg.clone())),
                _ => {}
            }
        }
        s.sync().expect("sync");
        persisted.then(|| read_disk(&dir_of(id)))
    };
    let start = |id: NodeId,
                 nodes: &mut BTreeMap<NodeId, AnyNode>,
                 stores: &mut BTreeMap<NodeId, Storage>,
                 timers: &mut BTreeMap<NodeId, BTreeSet<Timer>>,
                 net: &mut Vec<(NodeId, NodeId, Message)>,
                 events: &mut Vec<Event>| {
        let (s, rec) = Storage::open(&dir_of(id)).expect("open");
        stores.insert(id, s);
        let durable = Durable {
            hard: rec.hard,
            log: Log::from_entries(rec.entries),
        };
        let (node, out) = kraftwerk_impl::core::restore(p, id, &IDS, &[], durable);
        // A start always reports the data directory: the model's recovery
        // saves it again (with its ghost restart counter).
        carry_out(id, &out, stores, timers, net);
        let disk = Some(read_disk(&dir_of(id)));
        events.push(Event {
            node: id,
            input: None,
            actions: out,
            after: node.clone(),
            disk,
        });
        nodes.insert(id, node);
    };
    for id in IDS {
        start(
            id,
            &mut nodes,
            &mut stores,
            &mut timers,
            &mut net,
            &mut events,
        );
    }
    let mut seq = 0;
    for step in 0..steps {
        if step == steps / 2 {
            // Crash node 1 and restore it from its files.
            let id = NodeId(1);
            let before = nodes.remove(&id).expect("node");
            stores.remove(&id);
            timers.remove(&id);
            net.retain(|(_, to, _)| *to != id);
            assert_eq!(read_disk(&dir_of(id)), before.durable(), "disk = memory");
            start(
                id,
                &mut nodes,
                &mut stores,
                &mut timers,
                &mut net,
                &mut events,
            );
            continue;
        }
        let choice = rng.below(10);
        let (id, input) = if choice < 7 && !net.is_empty() {
            let (from, to, msg) = net.remove(rng.below(net.len()));
            if rng.one_in(20) {
                continue; // the network loses it
            }
            (to, Input::Receive { from, msg })
        } else if choice < 8 {
            let id = IDS[rng.below(IDS.len())];
            let armed: Vec<Timer> = timers.get(&id).into_iter().flatten().copied().collect();
            if armed.is_empty() {
                continue;
            }
            let t = armed[rng.below(armed.len())];
            if t == Timer::Election && !rng.one_in(10) {
                continue; // elections are rare next to heartbeats and fetches
            }
            timers.entry(id).or_default().remove(&t);
            (id, Input::Timeout(t))
        } else {
            let Some(&id) = nodes.iter().find(|(_, n)| n.is_leader()).map(|(id, _)| id) else {
                continue;
            };
            seq += 1;
            let request = RequestId { client: 0, seq };
            (
                id,
                Input::Propose {
                    request,
                    data: vec![seq as u8],
                },
            )
        };
        let node = nodes.get_mut(&id).expect("node");
        let actions = node.step_batch([input.clone()]);
        assert_eq!(node.validate(), Ok(()));
        let after = node.clone();
        let disk = carry_out(id, &actions, &mut stores, &mut timers, &mut net);
        events.push(Event {
            node: id,
            input: Some(input),
            actions,
            after,
            disk,
        });
    }
    let committed = nodes.values().map(|n| n.committed().0).max().unwrap_or(0);
    assert!(committed > 20, "the run commits something ({committed})");
    events
}

/// The stateright commands the model's actor must emit for the runtime's
/// `actions` (without the `save`, which is checked on its own).
fn expected_commands(actions: &[Action]) -> Vec<String> {
    let mut want = Vec::new();
    for a in actions {
        match a {
            Action::Send { to, msg } => {
                want.push(format!("send {} {msg}", to.0));
            }
            Action::Reply {
                request,
                index,
                term,
            } => {
                let reply = Message::ClientReply(ClientReply {
                    request: *request,
                    index: *index,
                    term: *term,
                });
                want.push(format!(
                    "send {} {reply}",
                    CLIENT_BASE + request.client as usize
                ));
            }
            Action::SetTimer(t) => want.push(format!("set {t:?}")),
            Action::CancelTimer(t) => want.push(format!("cancel {t:?}")),
            _ => {}
        }
    }
    want
}

/// What the model's actor emitted: its commands (without saves) and its
/// saves.
fn split_out(out: Out<KwActor>) -> (Vec<String>, Vec<ModelDurable>, Vec<(Id, Msg)>) {
    let (mut commands, mut saves, mut sends) = (Vec::new(), Vec::new(), Vec::new());
    for c in out {
        match c {
            Command::Send(to, msg) => {
                commands.push(format!("send {} {}", usize::from(to), msg.0));
                sends.push((to, msg));
            }
            Command::SetTimer(t, _) => commands.push(format!("set {t:?}")),
            Command::CancelTimer(t) => commands.push(format!("cancel {t:?}")),
            Command::Save(d) => saves.push(d),
            Command::ChooseRandom(..) => panic!("the server actor never chooses"),
        }
    }
    (commands, saves, sends)
}

/// The model's side of the replay: the actors' states and storage, the
/// messages they sent that are still in flight, and their armed timers.
struct ModelRun {
    actor: KwActor,
    states: BTreeMap<NodeId, ActorState>,
    storage: BTreeMap<NodeId, ModelDurable>,
    network: Vec<(NodeId, NodeId, Message)>,
    timers: BTreeMap<NodeId, BTreeSet<Timer>>,
}

fn replay(p: Protocol, events: &[Event]) {
    let mut m = ModelRun {
        actor: KwActor::Server {
            core: AnyConfig::production(p, &IDS, &[]),
            class: 0,
            heartbeats: true,
            client_base: CLIENT_BASE,
        },
        states: BTreeMap::new(),
        storage: BTreeMap::new(),
        network: Vec::new(),
        timers: BTreeMap::new(),
    };
    let mut saves = 0;
    for (i, ev) in events.iter().enumerate() {
        let at = format!("event {i} at {} ({:?})", ev.node, ev.input);
        let id = Id::from(ev.node.0 as usize);
        let mut out = Out::new();
        let state = match &ev.input {
            None => {
                // A (re)start: stateright's recovery calls on_start with
                // what the actor last saved; timers are lost.
                m.timers.remove(&ev.node);
                let storage = m.storage.get(&ev.node).cloned();
                m.actor.on_start(id, &storage, &mut out)
            }
            Some(input) => {
                let before = m.states.get(&ev.node).expect("started");
                let mut state = Cow::Borrowed(before);
                match input.clone() {
                    Input::Receive { from, msg } => {
                        let k = m
                            .network
                            .iter()
                            .position(|(f, t, x)| *f == from && *t == ev.node && *x == msg)
                            .unwrap_or_else(|| panic!("{at}: the model never sent {msg}"));
                        m.network.remove(k);
                        let src = Id::from(from.0 as usize);
                        m.actor.on_msg(id, &mut state, src, Msg(msg), &mut out);
                    }
                    Input::Timeout(t) => {
                        let armed = m.timers.entry(ev.node).or_default().remove(&t);
                        assert!(armed, "{at}: {t:?} is not armed in the model");
                        m.actor.on_timeout(id, &mut state, &t, &mut out);
                    }
                    Input::Propose { request, data } => {
                        // The model's client actor sends a ClientRequest.
                        let src = Id::from(CLIENT_BASE + request.client as usize);
                        let msg = Msg(Message::ClientRequest(ClientRequest { request, data }));
                        m.actor.on_msg(id, &mut state, src, msg, &mut out);
                    }
                    Input::ChangeMembership { .. } => unreachable!("not recorded"),
                }
                state.into_owned()
            }
        };
        let (commands, saved, sends) = split_out(out);
        assert_eq!(commands, expected_commands(&ev.actions), "{at}: commands");
        let server = state.server().expect("a server state");
        assert_eq!(server.node, ev.after, "{at}: node");
        let fresh = ev.input.is_none() && !m.storage.contains_key(&ev.node);
        match (&ev.disk, saved.as_slice()) {
            (None, []) => {}
            // A first start from an empty directory saves nothing.
            (Some(disk), []) if fresh && *disk == Durable::default() => {}
            (Some(disk), [d]) => {
                assert_eq!(&d.disk, disk, "{at}: saved state is the data directory");
                m.storage.insert(ev.node, d.clone());
                saves += 1;
            }
            (disk, saved) => panic!("{at}: runtime persisted {disk:?}, model saved {saved:?}"),
        }
        // The actor's own durable copy is the runtime's disk too.
        if let Some(disk) = &ev.disk {
            assert_eq!(&server.durable.disk, disk, "{at}: durable copy");
        }
        for (to, msg) in sends {
            if usize::from(to) < CLIENT_BASE {
                m.network
                    .push((ev.node, NodeId(usize::from(to) as u32), msg.0));
            }
        }
        let timers = m.timers.entry(ev.node).or_default();
        for a in &ev.actions {
            match a {
                Action::SetTimer(t) => {
                    timers.insert(*t);
                }
                Action::CancelTimer(t) => {
                    timers.remove(t);
                }
                _ => {}
            }
        }
        m.states.insert(ev.node, state);
    }
    assert!(saves > 100, "the replay saved {saves} times");
}

/// The runtime steps a whole batch of inputs at once (group commit): for
/// every node, stepping its recorded inputs in one `step_batch` call must
/// end in the same node and the same durable state as stepping them one by
/// one (the core may merge hard-state persists inside a batch).
fn batch_matches_sequential(p: Protocol, events: &[Event]) {
    for id in IDS {
        // The inputs of `id` after its last restart, from what it had on
        // disk then (the durable part of the node it restarted as).
        let start = events
            .iter()
            .rposition(|e| e.node == id && e.input.is_none())
            .expect("a start");
        let inputs: Vec<Input> = events[start..]
            .iter()
            .filter(|e| e.node == id)
            .filter_map(|e| e.input.clone())
            .collect();
        let d = events[start].after.durable();
        let restore = || kraftwerk_impl::core::restore(p, id, &IDS, &[], d.clone()).0;
        let mut one = restore();
        let mut seq_durable = d.clone();
        for input in &inputs {
            for a in one.step_batch([input.clone()]) {
                seq_durable.apply(&a);
            }
        }
        let mut batch = restore();
        let mut batch_durable = d.clone();
        for a in batch.step_batch(inputs) {
            batch_durable.apply(&a);
        }
        assert_eq!(one, batch, "{id}: node after batch");
        assert_eq!(seq_durable, batch_durable, "{id}: durable state");
    }
}

#[test]
fn batched_steps_match_sequential_steps() {
    for p in [Protocol::Raft, Protocol::Kraft] {
        for seed in [4, 5] {
            batch_matches_sequential(p, &record(p, seed, 1500));
        }
    }
}

#[test]
fn raft_runtime_run_is_accepted_by_the_model_actor() {
    for seed in [1, 2, 3] {
        replay(Protocol::Raft, &record(Protocol::Raft, seed, 1500));
    }
}

#[test]
fn kraft_runtime_run_is_accepted_by_the_model_actor() {
    for seed in [1, 2, 3] {
        replay(Protocol::Kraft, &record(Protocol::Kraft, seed, 1500));
    }
}
