//! A linearizability checker for histories of the key-value store
//! (`impl/src/kv.rs`), in the style of Wing & Gong as improved by Lowe
//! ("Testing for linearizability", 2017): a depth-first search for a
//! linearization over a doubly linked list of call and return events, with
//! memoisation of (linearized set, register state).
//!
//! Each key is an independent register (P-compositionality: a history is
//! linearizable iff its restriction to each key is), so every key is
//! checked on its own. The register model is exactly what the KV answers:
//! a put or a delete returns the previous value, a get the value, a
//! compare-and-set whether it swapped and the previous value.
//!
//! An operation's outcome is `Ok` (it took effect with that result),
//! `Fail` (it definitely did not take effect: dropped before the check) or
//! `Unknown` (timed out or lost its connection: it may or may not have
//! taken effect, at any time after its invocation).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// A register value (the store's values are strings in the tests).
pub type Value = String;

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Set the value.
    Put(Value),
    /// Read the value.
    Get,
    /// Set to `new` (clear when `None`) iff the value is `expected`
    /// (absent when `None`).
    Cas {
        /// The value required.
        expected: Option<Value>,
        /// The value to set.
        new: Option<Value>,
    },
    /// Clear the value.
    Delete,
}

/// What a completed operation returned (as `kv::Outcome` does).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// A put or delete took effect; the previous value.
    Done(Option<Value>),
    /// A get's value.
    Value(Option<Value>),
    /// A compare-and-set: whether it swapped, and the value before.
    Cas {
        /// True when the value matched and was replaced.
        swapped: bool,
        /// The value before.
        previous: Option<Value>,
    },
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It took effect, with this result, between invocation and completion.
    Ok(Ret),
    /// It definitely did not take effect.
    Fail,
    /// It may or may not have taken effect (treated as completing at
    /// +infinity).
    Unknown,
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operation {
    /// The client (process) that ran it; one operation at a time each.
    pub client: usize,
    /// The key.
    pub key: String,
    /// What it did.
    pub op: Op,
    /// Invocation time (any monotonic unit, e.g. microseconds since start).
    pub invoke: u64,
    /// Completion time (for `Unknown`: when the client gave up; ignored).
    pub complete: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// The register model: the result `op` gets in `state`, and the new state.
pub fn step(state: &Option<Value>, op: &Op) -> (Option<Value>, Ret) {
    match op {
        Op::Put(v) => (Some(v.clone()), Ret::Done(state.clone())),
        Op::Get => (state.clone(), Ret::Value(state.clone())),
        Op::Delete => (None, Ret::Done(state.clone())),
        Op::Cas { expected, new } => {
            let swapped = state == expected;
            let next = if swapped { new.clone() } else { state.clone() };
            (
                next,
                Ret::Cas {
                    swapped,
                    previous: state.clone(),
                },
            )
        }
    }
}

/// The verdict on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A linearization exists.
    Linearizable,
    /// None exists.
    NotLinearizable,
    /// The search exceeded its budget of steps.
    Inconclusive,
}

/// A non-linearizable key and a small history that shows it.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The key.
    pub key: String,
    /// How many operations the key's history has.
    pub total: usize,
    /// A sub-history that is already not linearizable: the key's history as
    /// it stood at the earliest completion that makes it fail (operations
    /// still running then count as `Unknown`), with every `Ok` operation
    /// whose result is not needed for the failure turned into `Unknown`
    /// and the `Unknown` operations that then cannot matter left out.
    /// Either change only adds possible linearizations, so the original
    /// history fails too.
    pub minimal: Vec<Operation>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "key {:?} is not linearizable ({} operations); a failing sub-history of {}:",
            self.key,
            self.total,
            self.minimal.len()
        )?;
        write!(f, "{}", format_history(&self.minimal))
    }
}

/// The result of checking a whole history.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Operations checked, by outcome.
    pub ok: usize,
    /// Operations that definitely failed.
    pub fail: usize,
    /// Operations with unknown outcome.
    pub unknown: usize,
    /// Keys checked.
    pub keys: usize,
    /// Keys whose search exceeded the budget (none is good).
    pub inconclusive: Vec<String>,
}

/// Search steps allowed per key before giving up as inconclusive.
pub const DEFAULT_BUDGET: u64 = 50_000_000;

/// Checks every key of `history`; the first violation found (keys in
/// order) with a minimal failing sub-history.
pub fn check(history: &[Operation]) -> Result<Report, Box<Violation>> {
    let mut by_key: BTreeMap<&str, Vec<Operation>> = BTreeMap::new();
    let mut report = Report::default();
    for o in history {
        match o.outcome {
            Outcome::Ok(_) => report.ok += 1,
            Outcome::Fail => report.fail += 1,
            Outcome::Unknown => report.unknown += 1,
        }
        by_key.entry(&o.key).or_default().push(o.clone());
    }
    report.keys = by_key.len();
    for (key, ops) in by_key {
        match check_key(&ops, DEFAULT_BUDGET) {
            Verdict::Linearizable => {}
            Verdict::Inconclusive => report.inconclusive.push(key.to_string()),
            Verdict::NotLinearizable => {
                return Err(Box::new(Violation {
                    key: key.to_string(),
                    total: ops.len(),
                    minimal: minimize(&ops),
                }))
            }
        }
    }
    Ok(report)
}

/// Drops what cannot matter: failed operations, unknown gets, and unknown
/// writes of a value that nothing observes or compares against. Such a
/// write, had it taken effect, would have been overwritten blindly before
/// anyone saw it, so a linearization with it gives one without it; the
/// converse holds as unknown operations are optional.
pub fn prune(ops: &[Operation]) -> Vec<Operation> {
    let mut referenced: HashSet<&Value> = HashSet::new();
    for o in ops {
        if let Op::Cas {
            expected: Some(e), ..
        } = &o.op
        {
            if o.outcome != Outcome::Fail {
                referenced.insert(e);
            }
        }
        if let Outcome::Ok(r) = &o.outcome {
            match r {
                Ret::Done(Some(v)) | Ret::Value(Some(v)) => {
                    referenced.insert(v);
                }
                Ret::Cas {
                    previous: Some(v), ..
                } => {
                    referenced.insert(v);
                }
                _ => {}
            }
        }
    }
    ops.iter()
        .filter(|o| match (&o.outcome, &o.op) {
            (Outcome::Fail, _) => false,
            (Outcome::Ok(_), _) => true,
            (Outcome::Unknown, Op::Get) => false,
            (Outcome::Unknown, Op::Put(v)) | (Outcome::Unknown, Op::Cas { new: Some(v), .. }) => {
                referenced.contains(v)
            }
            (Outcome::Unknown, _) => true,
        })
        .cloned()
        .collect()
}

/// Checks the history of one key (every operation on the same key)
/// within `budget` search steps.
pub fn check_key(ops: &[Operation], budget: u64) -> Verdict {
    let ops = prune(ops);
    Search::new(&ops).run(budget)
}

/// The key's history as it stood at time `t`: operations invoked by `t`;
/// those that completed after `t` become `Unknown`. If a history is
/// linearizable, so is each of these.
pub fn at_time(ops: &[Operation], t: u64) -> Vec<Operation> {
    ops.iter()
        .filter(|o| o.invoke <= t)
        .map(|o| {
            let mut o = o.clone();
            if matches!(o.outcome, Outcome::Ok(_)) && o.complete > t {
                o.outcome = Outcome::Unknown;
            }
            o
        })
        .collect()
}

/// A small failing sub-history of a non-linearizable key history (see
/// [`Violation::minimal`]).
pub fn minimize(ops: &[Operation]) -> Vec<Operation> {
    let fails = |h: &[Operation]| check_key(h, DEFAULT_BUDGET) == Verdict::NotLinearizable;
    // The earliest completion at which the history already fails (the
    // property is monotone in time, so a binary search finds it).
    let mut times: Vec<u64> = ops
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Ok(_)))
        .map(|o| o.complete)
        .collect();
    times.sort_unstable();
    times.dedup();
    let (mut lo, mut hi) = (0, times.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fails(&at_time(ops, times[mid])) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let base = match times.get(lo) {
        Some(&t) => prune(&at_time(ops, t)),
        None => prune(ops),
    };
    if base.len() > 5000 {
        return base;
    }
    // Forget each result that the failure does not need, oldest first.
    let mut relaxed = vec![false; base.len()];
    let build = |relaxed: &[bool]| {
        let with: Vec<Operation> = base
            .iter()
            .zip(relaxed)
            .map(|(o, &r)| {
                let mut o = o.clone();
                if r {
                    o.outcome = Outcome::Unknown;
                }
                o
            })
            .collect();
        prune(&with)
    };
    for i in 0..base.len() {
        if matches!(base[i].outcome, Outcome::Ok(_)) {
            relaxed[i] = true;
            if !fails(&build(&relaxed)) {
                relaxed[i] = false;
            }
        }
    }
    build(&relaxed)
}

/// Renders a history one operation per line, in invocation order, times
/// in milliseconds.
pub fn format_history(ops: &[Operation]) -> String {
    let mut sorted: Vec<&Operation> = ops.iter().collect();
    sorted.sort_by_key(|o| (o.invoke, o.complete));
    let v = |x: &Option<Value>| x.as_ref().map_or("nil".to_string(), |s| format!("{s:?}"));
    let mut s = String::new();
    for o in sorted {
        let op = match &o.op {
            Op::Put(x) => format!("put {x:?}"),
            Op::Get => "get".into(),
            Op::Delete => "delete".into(),
            Op::Cas { expected, new } => format!("cas {} -> {}", v(expected), v(new)),
        };
        let (end, out) = match &o.outcome {
            Outcome::Ok(Ret::Done(p)) => (ms(o.complete), format!("ok (previous {})", v(p))),
            Outcome::Ok(Ret::Value(x)) => (ms(o.complete), format!("ok {}", v(x))),
            Outcome::Ok(Ret::Cas { swapped, previous }) => (
                ms(o.complete),
                format!(
                    "ok {} (previous {})",
                    if *swapped { "swapped" } else { "not swapped" },
                    v(previous)
                ),
            ),
            Outcome::Fail => (ms(o.complete), "fail".into()),
            Outcome::Unknown => ("inf".into(), "unknown".into()),
        };
        s.push_str(&format!(
            "  [{:>10} .. {:>10}] c{:<2} {:<8} {:<32} {}\n",
            ms(o.invoke),
            end,
            o.client,
            o.key,
            op,
            out
        ));
    }
    s
}

fn ms(micros: u64) -> String {
    format!("{:.3}", micros as f64 / 1000.0)
}

/// A growable bit set, the linearized operations.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// Values interned to small integers; 0 is "absent".
type State = u32;

#[derive(Clone, Copy)]
enum IOp {
    Put(State),
    Get,
    Delete,
    Cas { expected: State, new: State },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IRet {
    Done(State),
    Value(State),
    Cas { swapped: bool, previous: State },
}

fn istep(state: State, op: IOp) -> (State, IRet) {
    match op {
        IOp::Put(v) => (v, IRet::Done(state)),
        IOp::Get => (state, IRet::Value(state)),
        IOp::Delete => (0, IRet::Done(state)),
        IOp::Cas { expected, new } => {
            let swapped = state == expected;
            (
                if swapped { new } else { state },
                IRet::Cas {
                    swapped,
                    previous: state,
                },
            )
        }
    }
}

/// Lowe's search. Entries 0 and 1 are the head and tail sentinels; entry
/// `2 + k` is the k-th event in time order.
struct Search {
    ops: Vec<(IOp, Option<IRet>)>,
    /// Per entry: the operation and whether it is its call.
    entry_op: Vec<(usize, bool)>,
    call: Vec<usize>,
    ret: Vec<Option<usize>>,
    next: Vec<usize>,
    prev: Vec<usize>,
}

const HEAD: usize = 0;
const TAIL: usize = 1;

impl Search {
    fn new(ops: &[Operation]) -> Search {
        let mut intern: HashMap<Value, State> = HashMap::new();
        let mut id = |v: &Option<Value>| -> State {
            match v {
                None => 0,
                Some(s) => {
                    let n = intern.len() as State + 1;
                    *intern.entry(s.clone()).or_insert(n)
                }
            }
        };
        let mut iops = Vec::new();
        for o in ops {
            let op = match &o.op {
                Op::Put(v) => IOp::Put(id(&Some(v.clone()))),
                Op::Get => IOp::Get,
                Op::Delete => IOp::Delete,
                Op::Cas { expected, new } => IOp::Cas {
                    expected: id(expected),
                    new: id(new),
                },
            };
            let ret = match &o.outcome {
                Outcome::Ok(Ret::Done(p)) => Some(IRet::Done(id(p))),
                Outcome::Ok(Ret::Value(v)) => Some(IRet::Value(id(v))),
                Outcome::Ok(Ret::Cas { swapped, previous }) => Some(IRet::Cas {
                    swapped: *swapped,
                    previous: id(previous),
                }),
                Outcome::Unknown => None,
                Outcome::Fail => unreachable!("pruned"),
            };
            iops.push((op, ret));
        }
        // Events: (time, 0 = call / 1 = return, op). At equal times calls
        // come first: an operation that completes exactly when another is
        // invoked is concurrent with it.
        let mut events: Vec<(u64, u8, usize)> = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            events.push((o.invoke, 0, i));
            if iops[i].1.is_some() {
                events.push((o.complete.max(o.invoke), 1, i));
            }
        }
        events.sort_unstable();
        let n = events.len() + 2;
        let mut s = Search {
            ops: iops,
            entry_op: vec![(usize::MAX, false); n],
            call: vec![0; ops.len()],
            ret: vec![None; ops.len()],
            next: vec![TAIL; n],
            prev: vec![HEAD; n],
        };
        let mut last = HEAD;
        for (k, &(_, kind, i)) in events.iter().enumerate() {
            let e = k + 2;
            s.entry_op[e] = (i, kind == 0);
            if kind == 0 {
                s.call[i] = e;
            } else {
                s.ret[i] = Some(e);
            }
            s.next[last] = e;
            s.prev[e] = last;
            last = e;
        }
        s.next[last] = TAIL;
        s.prev[TAIL] = last;
        s
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        self.prev[n] = e;
    }

    fn lift(&mut self, i: usize) {
        self.unlink(self.call[i]);
        if let Some(r) = self.ret[i] {
            self.unlink(r);
        }
    }

    fn unlift(&mut self, i: usize) {
        if let Some(r) = self.ret[i] {
            self.relink(r);
        }
        self.relink(self.call[i]);
    }

    fn run(mut self, budget: u64) -> Verdict {
        let mut returns_left = self.ops.iter().filter(|o| o.1.is_some()).count();
        let mut linearized = Bits::new(self.ops.len());
        let mut cache: HashSet<(Bits, State)> = HashSet::new();
        let mut stack: Vec<(usize, State)> = Vec::new();
        let mut state: State = 0;
        let mut entry = self.next[HEAD];
        let mut steps = 0u64;
        while returns_left > 0 {
            steps += 1;
            if steps > budget {
                return Verdict::Inconclusive;
            }
            debug_assert_ne!(entry, TAIL, "a return is always ahead");
            let (i, is_call) = self.entry_op[entry];
            if is_call {
                let (op, want) = self.ops[i];
                let (next_state, got) = istep(state, op);
                if want.is_none_or(|w| w == got) {
                    linearized.set(i);
                    if cache.insert((linearized.clone(), next_state)) {
                        stack.push((i, state));
                        state = next_state;
                        self.lift(i);
                        if want.is_some() {
                            returns_left -= 1;
                        }
                        entry = self.next[HEAD];
                        continue;
                    }
                    linearized.clear(i);
                }
                entry = self.next[entry];
            } else {
                // Operation i must take effect before it returns, and no
                // choice made so far lets it: undo the latest choice.
                let Some((j, before)) = stack.pop() else {
                    return Verdict::NotLinearizable;
                };
                linearized.clear(j);
                state = before;
                self.unlift(j);
                if self.ops[j].1.is_some() {
                    returns_left += 1;
                }
                entry = self.next[self.call[j]];
            }
        }
        Verdict::Linearizable
    }
}

/// The distinct keys of a history, for reports.
pub fn keys(history: &[Operation]) -> BTreeSet<&str> {
    history.iter().map(|o| o.key.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::rng::Rng;

    fn s(x: &str) -> Option<Value> {
        Some(x.to_string())
    }

    fn op(client: usize, invoke: u64, complete: u64, op: Op, outcome: Outcome) -> Operation {
        Operation {
            client,
            key: "k".into(),
            op,
            invoke,
            complete,
            outcome,
        }
    }

    fn put(v: &str) -> Op {
        Op::Put(v.into())
    }

    fn cas(e: Option<Value>, n: Option<Value>) -> Op {
        Op::Cas {
            expected: e,
            new: n,
        }
    }

    fn done(p: Option<Value>) -> Outcome {
        Outcome::Ok(Ret::Done(p))
    }

    fn val(v: Option<Value>) -> Outcome {
        Outcome::Ok(Ret::Value(v))
    }

    fn swapped(ok: bool, p: Option<Value>) -> Outcome {
        Outcome::Ok(Ret::Cas {
            swapped: ok,
            previous: p,
        })
    }

    fn verdict(h: &[Operation]) -> Verdict {
        check_key(h, DEFAULT_BUDGET)
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, Op::Get, val(s("a"))),
            op(0, 4, 5, cas(s("a"), s("b")), swapped(true, s("a"))),
            op(1, 6, 7, cas(s("a"), s("c")), swapped(false, s("b"))),
            op(0, 8, 9, Op::Delete, done(s("b"))),
            op(1, 10, 11, Op::Get, val(None)),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
        assert!(check(&h).is_ok());
    }

    #[test]
    fn concurrent_reads_may_see_either_side_of_a_write() {
        // The put overlaps both reads: one sees it, the other does not,
        // in the order that the reads themselves allow.
        let h = vec![
            op(0, 0, 100, put("a"), done(None)),
            op(1, 10, 20, Op::Get, val(s("a"))),
            op(2, 5, 30, Op::Get, val(None)),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
        // But once one read saw it, a later read must too.
        let h = vec![
            op(0, 0, 100, put("a"), done(None)),
            op(1, 10, 20, Op::Get, val(s("a"))),
            op(2, 25, 30, Op::Get, val(None)),
        ];
        assert_eq!(verdict(&h), Verdict::NotLinearizable);
    }

    #[test]
    fn stale_read_is_caught() {
        let h = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(0, 2, 3, put("b"), done(s("a"))),
            op(1, 4, 5, Op::Get, val(s("a"))),
        ];
        assert_eq!(verdict(&h), Verdict::NotLinearizable);
        let v = check(&h).unwrap_err();
        assert_eq!(v.minimal.len(), 3, "{v}");
        assert!(v.to_string().contains("not linearizable"));
    }

    #[test]
    fn lost_write_is_caught() {
        // b was acknowledged, then a read sees the value before it.
        let h = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, put("b"), done(s("a"))),
            op(2, 4, 5, Op::Get, val(s("a"))),
            op(2, 6, 7, put("c"), done(s("a"))),
        ];
        assert_eq!(verdict(&h), Verdict::NotLinearizable);
    }

    #[test]
    fn a_cas_that_succeeds_twice_is_caught() {
        let h = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 10, cas(s("a"), s("b")), swapped(true, s("a"))),
            op(2, 3, 11, cas(s("a"), s("c")), swapped(true, s("a"))),
        ];
        assert_eq!(verdict(&h), Verdict::NotLinearizable);
        // One of them failing, having seen the other's value, is fine.
        let h = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 10, cas(s("a"), s("b")), swapped(true, s("a"))),
            op(2, 3, 11, cas(s("a"), s("c")), swapped(false, s("b"))),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn put_and_delete_report_the_previous_value() {
        let h = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, put("b"), done(None)), // must have seen a
        ];
        assert_eq!(verdict(&h), Verdict::NotLinearizable);
        let h = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, Op::Delete, done(s("a"))),
            op(1, 4, 5, Op::Delete, done(s("a"))), // already gone
        ];
        assert_eq!(verdict(&h), Verdict::NotLinearizable);
    }

    #[test]
    fn an_unknown_write_may_or_may_not_have_happened() {
        // Took effect: a later read sees it.
        let happened = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, put("b"), Outcome::Unknown),
            op(2, 10, 11, Op::Get, val(s("b"))),
        ];
        assert_eq!(verdict(&happened), Verdict::Linearizable);
        // Did not: a later read sees the value before.
        let not = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, put("b"), Outcome::Unknown),
            op(2, 10, 11, Op::Get, val(s("a"))),
        ];
        assert_eq!(verdict(&not), Verdict::Linearizable);
        // Possibly much later than it gave up: after the first read.
        let late = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, put("b"), Outcome::Unknown),
            op(2, 10, 11, Op::Get, val(s("a"))),
            op(2, 12, 13, Op::Get, val(s("b"))),
        ];
        assert_eq!(verdict(&late), Verdict::Linearizable);
        // But not both ways: seen, then unseen again.
        let both = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, put("b"), Outcome::Unknown),
            op(2, 10, 11, Op::Get, val(s("b"))),
            op(2, 12, 13, Op::Get, val(s("a"))),
        ];
        assert_eq!(verdict(&both), Verdict::NotLinearizable);
        // Not before it was invoked.
        let early = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(2, 2, 3, Op::Get, val(s("b"))),
            op(1, 4, 5, put("b"), Outcome::Unknown),
        ];
        assert_eq!(verdict(&early), Verdict::NotLinearizable);
        // A failed operation never happened.
        let failed = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, put("b"), Outcome::Fail),
            op(2, 10, 11, Op::Get, val(s("b"))),
        ];
        assert_eq!(verdict(&failed), Verdict::NotLinearizable);
    }

    #[test]
    fn an_unknown_cas_that_a_read_relies_on_is_kept() {
        // Only the two unknown operations together explain the read of c:
        // the pruning must keep the put of b, which only a cas compares
        // against.
        let h = vec![
            op(0, 0, 1, put("a"), done(None)),
            op(1, 2, 3, put("b"), Outcome::Unknown),
            op(2, 4, 5, cas(s("b"), s("c")), Outcome::Unknown),
            op(3, 10, 11, Op::Get, val(s("c"))),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn minimal_history_keeps_the_failure_and_drops_the_rest() {
        let mut h = Vec::new();
        let mut prev = None;
        for i in 0..50u64 {
            let v = format!("v{i}");
            h.push(op(0, 10 * i, 10 * i + 5, put(&v), done(prev.clone())));
            prev = s(&v);
        }
        // A stale read in the middle, then more writes.
        h.push(op(1, 222, 223, Op::Get, val(s("v3"))));
        let v = check(&h).unwrap_err();
        assert!(v.minimal.len() <= 3, "{v}");
        assert!(v.minimal.iter().any(|o| o.op == Op::Get), "{v}");
        assert_eq!(verdict(&v.minimal), Verdict::NotLinearizable);
    }

    /// The reference: tries every order of every subset of the operations
    /// that keeps all `Ok` ones and respects real time.
    fn brute_force(ops: &[Operation]) -> bool {
        let ops: Vec<&Operation> = ops.iter().filter(|o| o.outcome != Outcome::Fail).collect();
        fn go(ops: &[&Operation], used: &mut Vec<bool>, state: &Option<Value>) -> bool {
            let all_ok_done = ops
                .iter()
                .zip(used.iter())
                .all(|(o, &u)| u || o.outcome == Outcome::Unknown);
            if all_ok_done {
                return true;
            }
            for i in 0..ops.len() {
                if used[i] {
                    continue;
                }
                // Some unused completed operation finished before this one
                // started: it must come first.
                let blocked = ops.iter().zip(used.iter()).any(|(o, &u)| {
                    !u && matches!(o.outcome, Outcome::Ok(_)) && o.complete < ops[i].invoke
                });
                if blocked {
                    continue;
                }
                let (next, ret) = step(state, &ops[i].op);
                if let Outcome::Ok(want) = &ops[i].outcome {
                    if *want != ret {
                        continue;
                    }
                }
                used[i] = true;
                if go(ops, used, &next) {
                    return true;
                }
                used[i] = false;
            }
            false
        }
        go(&ops, &mut vec![false; ops.len()], &None)
    }

    /// A random history: a true execution (each operation takes effect at
    /// a random point of its interval, or not at all if unknown), then
    /// sometimes one result corrupted.
    fn random_history(rng: &mut Rng) -> Vec<Operation> {
        let n = 1 + rng.below(7) as usize;
        let vals = ["a", "b", "c"];
        let pick_val = |rng: &mut Rng| -> Option<Value> {
            if rng.below(4) == 0 {
                None
            } else {
                s(vals[rng.below(3) as usize])
            }
        };
        let mut ops = Vec::new();
        let mut points = Vec::new();
        for i in 0..n {
            let invoke = rng.below(20);
            let complete = invoke + rng.below(10);
            let o = match rng.below(4) {
                0 => Op::Put(vals[rng.below(3) as usize].into()),
                1 => Op::Get,
                2 => Op::Delete,
                _ => Op::Cas {
                    expected: pick_val(rng),
                    new: pick_val(rng),
                },
            };
            let outcome = match rng.below(20) {
                0 => Outcome::Fail,
                1..=4 => Outcome::Unknown,
                _ => Outcome::Ok(Ret::Value(None)), // filled below
            };
            let happens = match outcome {
                Outcome::Ok(_) => true,
                Outcome::Fail => false,
                Outcome::Unknown => rng.below(2) == 0,
            };
            if happens {
                let end = if outcome == Outcome::Unknown {
                    invoke + 30
                } else {
                    complete
                };
                points.push((invoke + rng.below(end - invoke + 1), i));
            }
            ops.push(op(i % 3, invoke, complete, o, outcome));
        }
        points.sort();
        let mut state = None;
        for (_, i) in points {
            let (next, ret) = step(&state, &ops[i].op);
            state = next;
            if matches!(ops[i].outcome, Outcome::Ok(_)) {
                ops[i].outcome = Outcome::Ok(ret);
            }
        }
        if rng.below(2) == 0 {
            let i = rng.below(n as u64) as usize;
            if let Outcome::Ok(r) = &mut ops[i].outcome {
                *r = match r {
                    Ret::Done(_) => Ret::Done(pick_val(rng)),
                    Ret::Value(_) => Ret::Value(pick_val(rng)),
                    Ret::Cas { .. } => Ret::Cas {
                        swapped: rng.below(2) == 0,
                        previous: pick_val(rng),
                    },
                };
            }
        }
        ops
    }

    #[test]
    fn agrees_with_brute_force_on_random_small_histories() {
        let mut rng = Rng::new(0x5eed);
        let (mut yes, mut no) = (0, 0);
        for round in 0..20_000 {
            let h = random_history(&mut rng);
            let expect = brute_force(&h);
            let got = verdict(&h);
            assert_eq!(
                got == Verdict::Linearizable,
                expect,
                "round {round}: checker says {got:?}, brute force {expect}:\n{}",
                format_history(&h)
            );
            if expect {
                yes += 1;
            } else {
                no += 1;
                // The minimal sub-history fails on its own too.
                let m = minimize(&h);
                assert!(!brute_force(&m), "round {round}: {}", format_history(&m));
            }
        }
        // Both kinds were exercised.
        assert!(yes > 2000 && no > 2000, "yes {yes} no {no}");
    }

    #[test]
    fn a_long_concurrent_history_checks_quickly_enough_to_finish() {
        // 5 clients, 2000 operations, each overlapping its neighbours, some
        // unknown: the search must finish within its budget.
        let mut rng = Rng::new(7);
        let mut ops = Vec::new();
        let mut points = Vec::new();
        for i in 0..2000u64 {
            let invoke = i * 10 + rng.below(10);
            let complete = invoke + 5 + rng.below(40);
            let o = match rng.below(4) {
                0 => Op::Put(format!("v{i}")),
                1 => Op::Get,
                2 => Op::Delete,
                _ => Op::Cas {
                    expected: s(&format!("v{}", i.saturating_sub(1 + rng.below(3)))),
                    new: s(&format!("w{i}")),
                },
            };
            let unknown = rng.below(30) == 0;
            let outcome = if unknown {
                Outcome::Unknown
            } else {
                Outcome::Ok(Ret::Value(None))
            };
            if !unknown || rng.below(2) == 0 {
                points.push((invoke + rng.below(complete - invoke + 1), i as usize));
            }
            ops.push(op(i as usize % 5, invoke, complete, o, outcome));
        }
        points.sort();
        let mut state = None;
        for (_, i) in points {
            let (next, ret) = step(&state, &ops[i].op);
            state = next;
            if matches!(ops[i].outcome, Outcome::Ok(_)) {
                ops[i].outcome = Outcome::Ok(ret);
            }
        }
        assert_eq!(verdict(&ops), Verdict::Linearizable);
    }
}
