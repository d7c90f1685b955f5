//! A linearizability checker in the style of Wing & Gong, with Lowe's memoization as
//! Porcupine implements it: walk the history's call/return events, try to linearize each
//! pending call at its earliest point, backtrack on a return that cannot be explained, and
//! never revisit a (linearized set, state) pair. Histories are split per key first
//! (P-compositionality: a map is linearizable iff each key is).

use std::collections::{BTreeMap, HashSet};

use super::kv::{Outcome, Write};

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

/// The sequential specification of one key.
fn step(state: State, op: &Op) -> Option<State> {
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
        match check_key(&ops, steps_max) {
            Some(true) => {}
            Some(false) => return Verdict::Violation(k),
            None => return Verdict::GaveUp(k),
        }
    }
    Verdict::Linearizable
}

#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_return: bool,
    prev: usize,
    next: usize,
}

/// `Some(linearizable?)`, or `None` when the step budget ran out.
fn check_key(ops: &[Op], steps_max: u64) -> Option<bool> {
    const NIL: usize = usize::MAX;
    // Event list: index 0 is the head sentinel.
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, false, i));
        order.push((op.ret.unwrap_or(u64::MAX), true, i));
    }
    order.sort_unstable();
    let mut ev: Vec<Event> = vec![Event { op: NIL, is_return: false, prev: NIL, next: NIL }];
    let mut call_of = vec![0usize; ops.len()];
    let mut ret_of = vec![0usize; ops.len()];
    for (_, is_return, op) in order {
        let idx = ev.len();
        ev[idx - 1].next = idx;
        ev.push(Event { op, is_return, prev: idx - 1, next: NIL });
        if is_return {
            ret_of[op] = idx
        } else {
            call_of[op] = idx
        }
    }
    let lift = |ev: &mut Vec<Event>, i: usize| {
        let (p, n) = (ev[i].prev, ev[i].next);
        ev[p].next = n;
        if n != NIL {
            ev[n].prev = p;
        }
    };
    let unlift = |ev: &mut Vec<Event>, i: usize| {
        let (p, n) = (ev[i].prev, ev[i].next);
        ev[p].next = i;
        if n != NIL {
            ev[n].prev = i;
        }
    };
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = None;
    let mut cur = ev[0].next;
    let mut steps = 0u64;
    while ev[0].next != NIL {
        steps += 1;
        if steps > steps_max {
            return None;
        }
        let e = ev[cur];
        if !e.is_return {
            if let Some(next) = step(state, &ops[e.op]) {
                let mut set = linearized.clone();
                set[e.op / 64] |= 1 << (e.op % 64);
                if cache.insert((set.clone(), next)) {
                    stack.push((e.op, state));
                    state = next;
                    linearized = set;
                    lift(&mut ev, call_of[e.op]);
                    lift(&mut ev, ret_of[e.op]);
                    cur = ev[0].next;
                    continue;
                }
            }
            cur = e.next;
        } else {
            // A return whose call is not linearized yet: undo the last choice.
            let Some((op, prev)) = stack.pop() else {
                return Some(false);
            };
            state = prev;
            linearized[op / 64] &= !(1 << (op % 64));
            unlift(&mut ev, ret_of[op]);
            unlift(&mut ev, call_of[op]);
            cur = ev[call_of[op]].next;
        }
    }
    Some(true)
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
