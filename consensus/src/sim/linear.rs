//! A linearizability checker in the style of Wing & Gong, with Lowe's memoization as
//! Porcupine implements it: walk the history's call/return events, try to linearize each
//! pending call at its earliest point, backtrack on a return that cannot be explained, and
//! never revisit a (linearized set, state) pair. Histories are split per key first
//! (P-compositionality: a map is linearizable iff each key is). Operations without an
//! answer get extra care, as each stays a candidate to the end of the history (see
//! [`search`]).
//!
//! [`search`] is the algorithm, generic over the operation and the sequential
//! specification; [`check`] applies it to the simulator's map, and
//! [`super::register`] to histories recorded against real servers.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use super::kv::{Outcome, Write};
use crate::rng::Rng;

/// What a client did to one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A write.
    Write(Write),
    /// A read after `sync`.
    Read,
}

/// What it got back; `None` while unknown (timed out or crashed server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// A write's answer.
    Write(Outcome),
    /// A read's value.
    Read(Option<u64>),
}

/// One operation of a history. Times are a global event counter, so all are distinct.
#[derive(Clone, Copy, Debug)]
pub struct Op {
    /// Who (for messages only).
    pub client: u32,
    /// When it was called.
    pub call: u64,
    /// When its answer arrived; `None`: never (it may or may not have taken effect).
    pub ret: Option<u64>,
    /// What.
    pub input: Input,
    /// Its answer, if any.
    pub output: Option<Output>,
}

/// Why a history failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Linearizable,
    /// No order explains the history on this key.
    Violation(u8),
    /// Search budget exhausted (counted as a failure so it gets looked at).
    GaveUp(u8),
}

type State = Option<u64>;

/// The sequential specification of one key of the simulator's map.
fn step(state: &State, op: &Op) -> Option<State> {
    let state = *state;
    let (next, out) = match op.input {
        Input::Read => (state, Output::Read(state)),
        Input::Write(w) => match (w, state) {
            (Write::Create(_, v), None) => (Some(v), Output::Write(Outcome::Ok)),
            (Write::Create(..), Some(_)) => (state, Output::Write(Outcome::Exists)),
            (Write::Set(_, v), Some(_)) => (Some(v), Output::Write(Outcome::Ok)),
            (Write::Set(..), None) | (Write::Delete(_), None) => (state, Output::Write(Outcome::NoNode)),
            (Write::Delete(_), Some(_)) => (None, Output::Write(Outcome::Ok)),
        },
    };
    match op.output {
        Some(o) if o != out => None,
        _ => Some(next),
    }
}

/// Checks a whole history, key by key.
pub fn check(ops: &[(u8, Op)], steps_max: u64) -> Verdict {
    let mut by_key: BTreeMap<u8, Vec<Op>> = BTreeMap::new();
    for (k, op) in ops {
        by_key.entry(*k).or_default().push(*op);
    }
    for (k, ops) in by_key {
        match search(&ops, None, step, Pending::Anywhere, steps_max) {
            Search::Linearizable => {}
            Search::Violation { .. } => return Verdict::Violation(k),
            Search::GaveUp => return Verdict::GaveUp(k),
        }
    }
    Verdict::Linearizable
}

impl Timed for Op {
    fn call(&self) -> u64 {
        self.call
    }
    fn ret(&self) -> Option<u64> {
        self.ret
    }
}

/// When an operation of a history ran: the generic search sees nothing else of it.
pub trait Timed {
    /// When it was called.
    fn call(&self) -> u64;
    /// When its answer arrived; `None`: never (it may take effect at any later point, or
    /// never, which the search treats as "after everything else").
    fn ret(&self) -> Option<u64>;
    /// For an operation without an answer: operations of the same class have the same
    /// effect in every state, so the search does not tell them apart (with `k` such
    /// operations pending it tries `k + 1` counts instead of `2^k` subsets). `None`: like
    /// no other.
    fn pending_class(&self) -> Option<u32> {
        None
    }
}

/// The outcome of [`search`] over one key's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Search {
    /// Some order of the operations, each within its call..return window, explains every
    /// answer.
    Linearizable,
    /// No order does. `longest` is the longest prefix of a linearization the search found
    /// (operation indices, in order): the operation that could not go next is the
    /// interesting one.
    Violation {
        /// Indices into the searched slice, in linearization order.
        longest: Vec<usize>,
    },
    /// The step budget ran out first.
    GaveUp,
}

/// Wing & Gong search with Lowe's memoization over one key's operations (all on one
/// object: split a history per key first). `step(state, op)` is the sequential
/// specification: the state after `op`, or `None` when `op`'s recorded answer is
/// impossible in `state`. Times may tie: a call at the same time as another operation's
/// return counts as overlapping it (the permissive reading). `steps_max` bounds the work
/// (candidates looked at plus choices undone).
///
/// Beyond Porcupine: answered operations are tried before pending ones at each point;
/// the search stops once every answered operation is placed (the pending rest may come
/// last, or never); pending operations of one [`Timed::pending_class`] are counted, not
/// named, and a configuration is pruned when one with the same placed answered set and
/// state but no more of each class used has already failed; and [`Pending::WhenNeeded`]
/// places pending operations only where the next operation needs them. The memo keys on a
/// 128-bit Zobrist-style sum of the placed set rather than the set (constant work and
/// memory per step however long the history): a collision, which could only turn a
/// linearizable history into a reported violation, has odds below 10^-18 even after ten
/// billion memo entries.
pub fn search<O: Timed, S: Clone + Eq + Hash>(
    ops: &[O],
    init: S,
    step: impl Fn(&S, &O) -> Option<S>,
    pending: Pending,
    steps_max: u64,
) -> Search {
    let ev = Events::new(ops);
    let mut s = Searcher {
        weight: weights(ops, &ev),
        counts: vec![0; ev.multi],
        ev,
        placed_hash: 0,
        need: None,
        memo: Memo { seen: HashMap::new() },
        stack: Vec::new(),
        best: Vec::new(),
        valid: 0,
        state: init,
    };
    let mut cur = s.ev.first(ANSWERED);
    let mut bound: Option<u64> = None;
    let mut steps = 0u64;
    // Once every answered operation is placed, the pending rest can come last, or never.
    while s.ev.first(ANSWERED) != NIL {
        let Some((op, after)) = s.ev.scan(ops, &mut cur, &mut bound, &mut steps) else {
            // No candidate left before the first open return: undo the last choice and
            // go on with the candidates after it.
            steps += 1;
            match s.undo() {
                Some((resume, b)) => (cur, bound) = (resume, b),
                None => return Search::Violation { longest: s.best },
            }
            continue;
        };
        if steps > steps_max {
            return Search::GaveUp;
        }
        let next = step(&s.state, &ops[op]).filter(|next| match &s.need {
            // A pending operation that changes nothing might as well never happen.
            _ if ops[op].ret().is_none() && *next == s.state => false,
            // Nor one that the next operation does not need (it ends in the same state).
            Some(before) => step(before, &ops[op]).as_ref() != Some(next),
            None => true,
        });
        // In the pending part of the scan, `op` is pending.
        let next_need = (pending == Pending::WhenNeeded && bound.is_some()).then(|| s.state.clone());
        if next.is_some_and(|next| s.place(op, next, next_need, bound)) {
            cur = s.ev.first(ANSWERED);
            bound = None;
        } else {
            cur = after;
        }
    }
    Search::Linearizable
}

/// The search's mutable state: the placed operations and what they add up to.
struct Searcher<S> {
    ev: Events,
    weight: Vec<u128>,
    /// The placed set: a hash over answered operations and pending ones of one-member
    /// classes, and a count per larger class.
    placed_hash: u128,
    counts: Vec<u32>,
    /// With [`Pending::WhenNeeded`], the state before the pending operation just placed:
    /// the next operation must not end in the same state from there.
    need: Option<S>,
    memo: Memo<S>,
    stack: Vec<Frame<S>>,
    /// The deepest stack seen; `best[..valid]` still equals the stack's bottom.
    best: Vec<usize>,
    valid: usize,
    state: S,
}

impl<S: Clone + Eq + Hash> Searcher<S> {
    /// Places `op` (leading to `next`) unless the memo prunes the configuration.
    fn place(&mut self, op: usize, next: S, next_need: Option<S>, bound: Option<u64>) -> bool {
        let multi = self.ev.multi_of(op);
        let hash = self.placed_hash.wrapping_add(self.weight[op]);
        if let Some(m) = multi {
            self.counts[m] += 1;
        }
        let key = (hash, next.clone(), next_need.clone());
        let Some(slot) = self.memo.visit(&key, &self.counts) else {
            if let Some(m) = multi {
                self.counts[m] -= 1;
            }
            return false;
        };
        self.placed_hash = hash;
        let prev = std::mem::replace(&mut self.state, next);
        let prev_need = std::mem::replace(&mut self.need, next_need);
        self.stack.push(Frame { op, prev, prev_need, bound, key, slot });
        if self.stack.len() > self.best.len() {
            self.best.truncate(self.valid);
            self.best.extend(self.stack[self.valid..].iter().map(|f| f.op));
            self.valid = self.best.len();
        }
        self.ev.lift(op);
        true
    }

    /// Undoes the last choice; returns where the scan resumes, or `None` at the root.
    fn undo(&mut self) -> Option<(usize, Option<u64>)> {
        let f = self.stack.pop()?;
        self.valid = self.valid.min(self.stack.len());
        self.memo.finish(&f.key, f.slot);
        self.state = f.prev;
        self.need = f.prev_need;
        self.placed_hash = self.placed_hash.wrapping_sub(self.weight[f.op]);
        if let Some(m) = self.ev.multi_of(f.op) {
            self.counts[m] -= 1;
        }
        self.ev.unlift(f.op);
        Some((self.ev.after(f.op), f.bound))
    }
}

/// Where [`search`] may place an operation that has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// Anywhere after its call: right for any specification.
    Anywhere,
    /// Only right before an operation that needs it: one that fails without it, or (a
    /// pending one) ends in another state without it. This prunes most of the search when
    /// many operations time out. Exact when an operation that succeeds from two states ends
    /// in the same state from both, as a register's write, read, delete and
    /// compare-and-set do: then a pending operation followed by one that does not need it
    /// can be dropped without changing any later state, and so can one at the very end.
    /// Not for the simulator's map, where a create answered `Exists` keeps whichever value
    /// was there.
    WhenNeeded,
}

/// A choice on the search's stack.
struct Frame<S> {
    op: usize,
    /// The state before it.
    prev: S,
    /// `need` before it.
    prev_need: Option<S>,
    /// Its configuration's place in the memo, to mark it failed when it is undone.
    key: (u128, S, Option<S>),
    slot: usize,
    /// The scan's `bound` when it was chosen (`Some` for a pending operation).
    bound: Option<u64>,
}

/// The configurations visited, by (placed-set hash, state, need), each with the counts of
/// placed members of the larger pending classes. A configuration is pruned when it was
/// visited before, or when one that has failed (finished, off the current path) had the
/// same hash, state and need and no more of each class placed: with at least the same
/// pending operations still to use, anything that works from here would have worked there.
struct Memo<S> {
    seen: HashMap<(u128, S, Option<S>), Vec<Seen>>,
}

struct Seen {
    counts: Box<[u32]>,
    failed: bool,
}

impl<S: Clone + Eq + Hash> Memo<S> {
    /// Records a configuration the search enters, unless it is pruned; returns its slot.
    fn visit(&mut self, key: &(u128, S, Option<S>), counts: &[u32]) -> Option<usize> {
        let list = self.seen.entry(key.clone()).or_default();
        let pruned = list.iter().any(|seen| {
            *seen.counts == *counts || (seen.failed && seen.counts.iter().zip(counts).all(|(a, b)| a <= b))
        });
        if pruned {
            return None;
        }
        list.push(Seen { counts: counts.into(), failed: false });
        Some(list.len() - 1)
    }

    /// The search has left a configuration it entered: nothing from it worked.
    fn finish(&mut self, key: &(u128, S, Option<S>), slot: usize) {
        if let Some(seen) = self.seen.get_mut(key).and_then(|l| l.get_mut(slot)) {
            seen.failed = true;
        }
    }
}

const NIL: usize = usize::MAX;
/// Sentinel of the list of answered operations' calls and returns, in time order.
const ANSWERED: usize = 0;
/// Sentinel of the list of pending classes (see [`Timed::pending_class`]; an operation
/// without one is a class of its own) that still have members to place, in order of their
/// first call. Tried after the answered candidates, as they explain fewer answers; within
/// a class the search places members in call order, as they are interchangeable.
const PENDING: usize = 1;

#[derive(Clone, Copy)]
struct Event {
    /// The operation; for a pending class's node, the class.
    op: usize,
    is_return: bool,
    time: u64,
    prev: usize,
    next: usize,
}

/// The two doubly linked event lists; placing an operation lifts its events out (or, for
/// a pending one, its class's node once the class has no member left).
struct Events {
    ev: Vec<Event>,
    /// Answered operation → its call and return events; `NIL` for a pending one.
    call_of: Vec<usize>,
    ret_of: Vec<usize>,
    /// Pending operation → its class; `NIL` for an answered one.
    class_of: Vec<usize>,
    /// Per class: its node, its members in call order, and how many are placed.
    node_of: Vec<usize>,
    members: Vec<Vec<usize>>,
    placed: Vec<usize>,
    /// Per class: its index among the classes of two or more members, or `NIL`.
    multi_index: Vec<usize>,
    /// How many such classes there are.
    multi: usize,
}

impl Events {
    fn new<O: Timed>(ops: &[O]) -> Events {
        // At equal times calls sort first: they overlap the return.
        let mut answered: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        let mut pending: Vec<(u64, usize)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op.ret() {
                Some(r) => answered.extend([(op.call(), false, i), (r, true, i)]),
                None => pending.push((op.call(), i)),
            }
        }
        answered.sort_unstable();
        pending.sort_unstable();
        let n = ops.len();
        let sentinel = Event { op: NIL, is_return: false, time: 0, prev: NIL, next: NIL };
        let mut e = Events {
            ev: vec![sentinel; 2],
            call_of: vec![NIL; n],
            ret_of: vec![NIL; n],
            class_of: vec![NIL; n],
            node_of: Vec::new(),
            members: Vec::new(),
            placed: Vec::new(),
            multi_index: Vec::new(),
            multi: 0,
        };
        let mut last = ANSWERED;
        for (time, is_return, op) in answered {
            let idx = e.push_after(last, op, is_return, time);
            if is_return {
                e.ret_of[op] = idx
            } else {
                e.call_of[op] = idx
            }
            last = idx;
        }
        let mut by_class: HashMap<u32, usize> = HashMap::new();
        let mut last = PENDING;
        for (time, op) in pending {
            let known = ops[op].pending_class().and_then(|k| by_class.get(&k).copied());
            let class = match known {
                Some(c) => c,
                None => {
                    let c = e.members.len();
                    let node = e.push_after(last, c, false, time);
                    e.members.push(Vec::new());
                    e.placed.push(0);
                    e.node_of.push(node);
                    last = node;
                    if let Some(k) = ops[op].pending_class() {
                        by_class.insert(k, c);
                    }
                    c
                }
            };
            e.members[class].push(op);
            e.class_of[op] = class;
        }
        for c in 0..e.members.len() {
            let index = if e.members[c].len() > 1 { e.multi } else { NIL };
            e.multi += usize::from(index != NIL);
            e.multi_index.push(index);
        }
        e
    }

    /// For a pending operation of a class with two or more members: the class's index
    /// among those.
    fn multi_of(&self, op: usize) -> Option<usize> {
        match self.class_of[op] {
            NIL => None,
            c => Some(self.multi_index[c]).filter(|&m| m != NIL),
        }
    }

    fn push_after(&mut self, last: usize, op: usize, is_return: bool, time: u64) -> usize {
        let idx = self.ev.len();
        self.ev[last].next = idx;
        self.ev.push(Event { op, is_return, time, prev: last, next: NIL });
        idx
    }

    fn first(&self, head: usize) -> usize {
        self.ev[head].next
    }

    /// Moves the scan to the next candidate: `(op, where to go on if it is refused)`, or
    /// `None` when none is left before the first open return. The scan walks the answered
    /// list up to its first return, whose time becomes `bound`, then the pending classes
    /// called by then.
    fn scan<O: Timed>(
        &self,
        ops: &[O],
        cur: &mut usize,
        bound: &mut Option<u64>,
        steps: &mut u64,
    ) -> Option<(usize, usize)> {
        loop {
            *steps += 1;
            // The answered list always ends with a return, so only the pending scan meets NIL.
            let e = self.ev.get(*cur)?;
            match *bound {
                None if e.is_return => {
                    *bound = Some(e.time);
                    *cur = self.first(PENDING);
                }
                None => return Some((e.op, e.next)),
                // Classes are in order of first call, so the scan ends at the first one
                // called after the bound; one whose next member is too late is skipped.
                Some(b) if e.time <= b => match self.next_member(e.op) {
                    Some(op) if ops[op].call() <= b => return Some((op, e.next)),
                    _ => *cur = e.next,
                },
                Some(_) => return None,
            }
        }
    }

    /// The member of a pending class to place next, if any is left.
    fn next_member(&self, class: usize) -> Option<usize> {
        self.members[class].get(self.placed[class]).copied()
    }

    /// Where the scan goes on after undoing `op`.
    fn after(&self, op: usize) -> usize {
        match self.class_of[op] {
            NIL => self.ev[self.call_of[op]].next,
            c => self.ev[self.node_of[c]].next,
        }
    }

    fn lift(&mut self, op: usize) {
        let events = match self.class_of[op] {
            NIL => [self.call_of[op], self.ret_of[op]],
            c => {
                self.placed[c] += 1;
                let done = self.placed[c] == self.members[c].len();
                [if done { self.node_of[c] } else { NIL }, NIL]
            }
        };
        for i in events.into_iter().filter(|&i| i != NIL) {
            let (p, n) = (self.ev[i].prev, self.ev[i].next);
            self.ev[p].next = n;
            if n != NIL {
                self.ev[n].prev = p;
            }
        }
    }

    /// Undoes `lift(op)`; lifts must be undone in reverse order.
    fn unlift(&mut self, op: usize) {
        let events = match self.class_of[op] {
            NIL => [self.ret_of[op], self.call_of[op]],
            c => {
                let was_done = self.placed[c] == self.members[c].len();
                self.placed[c] -= 1;
                [if was_done { self.node_of[c] } else { NIL }, NIL]
            }
        };
        for i in events.into_iter().filter(|&i| i != NIL) {
            let (p, n) = (self.ev[i].prev, self.ev[i].next);
            self.ev[p].next = i;
            if n != NIL {
                self.ev[n].prev = i;
            }
        }
    }
}

/// Random 128-bit weights for the placed-set hash, one per operation; zero for members of
/// a pending class of two or more, which are counted instead. Seeded, so a run is a pure
/// function of its history.
fn weights<O: Timed>(ops: &[O], ev: &Events) -> Vec<u128> {
    let mut rng = Rng::new(0x6C69_6E65_6172);
    (0..ops.len())
        .map(|i| {
            let w = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
            if ev.multi_of(i).is_some() {
                0
            } else {
                w
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: u64, ret: Option<u64>, input: Input, output: Option<Output>) -> (u8, Op) {
        (1, Op { client: 0, call, ret, input, output })
    }

    #[test]
    fn stale_read_after_acknowledged_write_is_caught() {
        let h = vec![
            op(1, Some(2), Input::Write(Write::Create(1, 5)), Some(Output::Write(Outcome::Ok))),
            op(3, Some(4), Input::Read, Some(Output::Read(None))),
        ];
        assert_eq!(check(&h, 1_000), Verdict::Violation(1));
    }

    #[test]
    fn overlapping_ops_may_take_either_order() {
        let h = vec![
            op(1, Some(4), Input::Write(Write::Create(1, 5)), Some(Output::Write(Outcome::Ok))),
            op(2, Some(3), Input::Read, Some(Output::Read(Some(5)))),
            op(5, Some(6), Input::Read, Some(Output::Read(Some(5)))),
        ];
        assert_eq!(check(&h, 1_000), Verdict::Linearizable);
    }

    #[test]
    fn pending_write_may_or_may_not_happen() {
        let h = vec![
            op(1, None, Input::Write(Write::Create(1, 7)), None),
            op(2, Some(3), Input::Read, Some(Output::Read(None))),
            op(4, Some(5), Input::Read, Some(Output::Read(Some(7)))),
        ];
        assert_eq!(check(&h, 1_000), Verdict::Linearizable);
        let lost = vec![
            op(1, None, Input::Write(Write::Create(1, 7)), None),
            op(2, Some(3), Input::Read, Some(Output::Read(Some(7)))),
            op(4, Some(5), Input::Read, Some(Output::Read(None))),
        ];
        assert_eq!(check(&lost, 1_000), Verdict::Violation(1));
    }
}
