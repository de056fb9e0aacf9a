//! Replay: one recorded run of inputs gives the same actions in the
//! runtime's step path and in the model's.
//!
//! A seeded simulation of three nodes drives the runtime's pure step path
//! ([`kraftwerk_impl::core::apply_inputs`]) and carries out the durable
//! actions with the runtime's own storage code
//! ([`kraftwerk_impl::server::persist_action`] on a real data directory),
//! recording every input and the actions it produced; one node is crashed
//! and restored from its files along the way. The recording is then
//! replayed through the model's `AnyNode` (the type the stateright adapter
//! steps), with the durable copy kept the way the adapter keeps it, and
//! every step must emit exactly the recorded actions. The model adapter's
//! own `ServerState::step` is private, so the replay calls the model's
//! `AnyNode::step` and mirrors the adapter's durable-state rules here.

use kraftwerk_impl::core::{apply_inputs, AnyNode, Protocol};
use kraftwerk_impl::server::persist_action;
use kraftwerk_impl::storage::Storage;
use kraftwerk_model::actor::AnyNode as ModelNode;
use kraftwerk_specs::log::Log;
use kraftwerk_specs::message::Message;
use kraftwerk_specs::node::{Action, Durable as SpecsDurable, HardState, Input, Timer};
use kraftwerk_specs::protocol::AnyConfig;
use kraftwerk_specs::types::{NodeId, RequestId};
use kraftwerk_tests::node::TempDir;
use std::collections::{BTreeMap, BTreeSet};

enum Event {
    Step(NodeId, Input, Vec<Action>),
    Restart(NodeId, Vec<Action>),
}

/// A tiny deterministic generator (no dependency, same run every time).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

const IDS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

fn runtime_node(
    p: Protocol,
    id: NodeId,
    hard: HardState,
    log: Log,
    out: &mut Vec<Action>,
) -> AnyNode {
    let (node, actions) =
        kraftwerk_impl::core::restore(p, id, &IDS, &[], SpecsDurable { hard, log });
    out.extend(actions);
    node
}

fn model_node(
    p: Protocol,
    id: NodeId,
    hard: HardState,
    log: Log,
    out: &mut Vec<Action>,
) -> ModelNode {
    let (node, actions) =
        AnyConfig::production(p, &IDS, &[]).restore(id, SpecsDurable { hard, log });
    out.extend(actions);
    node
}

/// Runs the simulation on the runtime path and returns the recording.
fn record(p: Protocol, seed: u64, steps: usize) -> Vec<Event> {
    let dir = TempDir::new("replay");
    let mut rng = Lcg(seed);
    let mut events = Vec::new();
    let mut nodes = BTreeMap::new();
    let mut stores = BTreeMap::new();
    let mut timers: BTreeMap<NodeId, BTreeSet<Timer>> = BTreeMap::new();
    let mut net: Vec<(NodeId, NodeId, Message)> = Vec::new();
    let carry_out = |id: NodeId,
                     actions: &[Action],
                     stores: &mut BTreeMap<NodeId, Storage>,
                     timers: &mut BTreeMap<NodeId, BTreeSet<Timer>>,
                     net: &mut Vec<(NodeId, NodeId, Message)>| {
        let s = stores.get_mut(&id).expect("store");
        for a in actions {
            persist_action(s, a).expect("persist");
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
    };
    for id in IDS {
        let (s, rec) = Storage::open(&dir.path().join(id.to_string())).expect("open");
        stores.insert(id, s);
        let mut out = Vec::new();
        nodes.insert(
            id,
            runtime_node(p, id, rec.hard, Log::from_entries(rec.entries), &mut out),
        );
        carry_out(id, &out, &mut stores, &mut timers, &mut net);
        events.push(Event::Restart(id, out));
    }
    let mut seq = 0;
    for step in 0..steps {
        if step == steps / 2 {
            // Crash node 2 and restore it from its files.
            let id = NodeId(2);
            let before = nodes.remove(&id).expect("node");
            stores.remove(&id);
            timers.remove(&id);
            net.retain(|(_, to, _)| *to != id);
            let (s, rec) = Storage::open(&dir.path().join(id.to_string())).expect("reopen");
            let (hard, log) = match &before {
                AnyNode::Raft(n) => (n.hard, n.log.clone()),
                AnyNode::Kraft(n) => (n.hard, n.log.clone()),
            };
            assert_eq!(rec.hard, hard, "hard state on disk");
            assert_eq!(rec.entries, log.entries(), "log on disk");
            stores.insert(id, s);
            let mut out = Vec::new();
            nodes.insert(
                id,
                runtime_node(p, id, rec.hard, Log::from_entries(rec.entries), &mut out),
            );
            carry_out(id, &out, &mut stores, &mut timers, &mut net);
            events.push(Event::Restart(id, out));
            continue;
        }
        let choice = rng.below(10);
        let (id, input) = if choice < 7 && !net.is_empty() {
            let (from, to, msg) = net.remove(rng.below(net.len()));
            if rng.below(20) == 0 {
                continue; // the network loses it
            }
            (to, Input::Receive { from, msg })
        } else if choice < 8 {
            let id = IDS[rng.below(3)];
            let armed: Vec<Timer> = timers.get(&id).into_iter().flatten().copied().collect();
            if armed.is_empty() {
                continue;
            }
            let t = armed[rng.below(armed.len())];
            if t == Timer::Election && rng.below(10) != 0 {
                continue; // elections are rare next to heartbeats and fetches
            }
            timers.entry(id).or_default().remove(&t);
            (id, Input::Timeout(t))
        } else {
            let Some(&id) = nodes.iter().find(|(_, n)| n.is_leader()).map(|(id, _)| id) else {
                continue;
            };
            seq += 1;
            let request = RequestId { client: 1, seq };
            (
                id,
                Input::Propose {
                    request,
                    data: vec![seq as u8],
                },
            )
        };
        let node = nodes.get_mut(&id).expect("node");
        let actions = apply_inputs(node, [input.clone()]);
        assert_eq!(node.validate(), Ok(()));
        carry_out(id, &actions, &mut stores, &mut timers, &mut net);
        events.push(Event::Step(id, input, actions));
    }
    let committed = nodes.values().map(|n| n.committed().0).max().unwrap_or(0);
    assert!(committed > 20, "the run commits something ({committed})");
    events
}

/// The model adapter's durable copy: what `ServerState::step` keeps.
#[derive(Default, Clone)]
struct Durable {
    hard: HardState,
    log: Log,
}

fn replay(p: Protocol, events: Vec<Event>) {
    let mut nodes: BTreeMap<NodeId, ModelNode> = BTreeMap::new();
    let mut durable: BTreeMap<NodeId, Durable> = BTreeMap::new();
    for (i, ev) in events.into_iter().enumerate() {
        let (id, actions, want) = match ev {
            Event::Restart(id, want) => {
                let d = durable.get(&id).cloned().unwrap_or_default();
                let mut out = Vec::new();
                nodes.insert(id, model_node(p, id, d.hard, d.log, &mut out));
                (id, out, want)
            }
            Event::Step(id, input, want) => {
                let mut out = Vec::new();
                let node = nodes.get_mut(&id).expect("node");
                out.extend(node.step(input));
                assert_eq!(node.validate(), Ok(()));
                (id, out, want)
            }
        };
        assert_eq!(actions, want, "event {i} at {id}: model and runtime differ");
        fold(durable.entry(id).or_default(), &actions);
    }
}

/// The runtime steps a whole batch of inputs at once (group commit): for
/// every node, stepping its recorded inputs in one `apply_inputs` call must
/// end in the same node and the same durable state as stepping them one by
/// one (the core may merge hard-state persists inside a batch).
fn batch_matches_sequential(p: Protocol, events: &[Event]) {
    for id in IDS {
        // The inputs of `id` after its last restart.
        let start = events
            .iter()
            .rposition(|e| matches!(e, Event::Restart(n, _) if *n == id))
            .expect("a start");
        let inputs: Vec<Input> = events[start..]
            .iter()
            .filter_map(|e| match e {
                Event::Step(n, input, _) if *n == id => Some(input.clone()),
                _ => None,
            })
            .collect();
        // Both start from what the node had on disk at its last restart:
        // replaying the model path up to there gives it.
        let mut durable: BTreeMap<NodeId, Durable> = BTreeMap::new();
        for e in &events[..start] {
            let (n, actions) = match e {
                Event::Step(n, _, a) | Event::Restart(n, a) => (n, a),
            };
            fold(durable.entry(*n).or_default(), actions);
        }
        let d = durable.remove(&id).unwrap_or_default();
        let mut out = Vec::new();
        let mut one = runtime_node(p, id, d.hard, d.log.clone(), &mut out);
        let mut seq_durable = d.clone();
        for input in &inputs {
            fold(&mut seq_durable, &apply_inputs(&mut one, [input.clone()]));
        }
        let mut batch = runtime_node(p, id, d.hard, d.log.clone(), &mut Vec::new());
        let mut batch_durable = d;
        fold(&mut batch_durable, &apply_inputs(&mut batch, inputs));
        assert_eq!(
            format!("{one:?}"),
            format!("{batch:?}"),
            "{id}: node after batch"
        );
        assert_eq!(seq_durable.hard, batch_durable.hard, "{id}: hard state");
        assert_eq!(seq_durable.log, batch_durable.log, "{id}: log");
    }
}

fn fold(d: &mut Durable, actions: &[Action]) {
    for a in actions {
        match a {
            Action::PersistHardState(h) => d.hard = *h,
            Action::TruncateLog { last } => d.log.truncate(*last),
            Action::AppendLog(es) => es.iter().for_each(|e| d.log.push(e.clone())),
            _ => {}
        }
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
fn raft_replay_matches_model() {
    for seed in [1, 2, 3] {
        replay(Protocol::Raft, record(Protocol::Raft, seed, 1500));
    }
}

#[test]
fn kraft_replay_matches_model() {
    for seed in [1, 2, 3] {
        replay(Protocol::Kraft, record(Protocol::Kraft, seed, 1500));
    }
}
