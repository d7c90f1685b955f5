//! Histories recorded against real servers: one register per key (a znode path) holding an
//! optional string value (`None`: the node is absent; every key starts absent), checked
//! with [`super::linear::search`]. The format is JSON Lines, one operation per line; the
//! `check_history` binary documents it for the people who write it.
//!
//! What each operation means to the model (`ok` is the recorded outcome):
//!
//! | op | ok: true | ok: null (unknown) |
//! |---|---|---|
//! | `write v` | create-or-set: the value becomes `v` | becomes `v`, or nothing happens |
//! | `read` | the value was `value` (a string, or `null` for absent) | dropped |
//! | `delete` | the node existed and is now absent | becomes absent, or nothing happens |
//! | `cas e v` | the value was `e` (`null`: absent, so a create) and becomes `v` | the same if the value is `e` at that point, else nothing |
//!
//! `ok: false` means the operation definitely had no effect: it is dropped. An unknown
//! outcome may take effect at any point after its call, however late, or never.
//!
//! Before the search, values no read sees and no cas expects become one value (the model
//! cannot tell them apart), and operations without an answer are grouped by what they do,
//! so that many timed-out writes cost counts rather than subsets; the register qualifies
//! for [`Pending::WhenNeeded`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use super::json::{self, Value};
use super::linear::{self, Pending, Search, Timed};

/// Why a line of a history could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// A value, interned: an index into [`History`]'s value table.
type Val = u32;

/// Stands for every value no read sees and no cas expects: such values are
/// indistinguishable to the model, and merging them shrinks the search.
const UNSEEN: Val = Val::MAX;

/// What an operation does, with its interned values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Write(Val),
    Read(Option<Val>),
    Delete,
    Cas { expect: Option<Val>, value: Val },
}

/// One operation the checker sees.
#[derive(Clone, Debug)]
struct RegOp {
    line: usize,
    process: String,
    call: u64,
    /// `None`: the outcome is unknown.
    ret: Option<u64>,
    kind: Kind,
    /// Set on the search's copy only (see [`model`]).
    class: Option<u32>,
}

impl Timed for RegOp {
    fn call(&self) -> u64 {
        self.call
    }
    fn ret(&self) -> Option<u64> {
        self.ret
    }
    fn pending_class(&self) -> Option<u32> {
        self.class
    }
}

/// The search's copy of one key's operations: values nobody observes become [`UNSEEN`],
/// and operations without an answer get a class per kind (with values), so that, say,
/// twenty timed-out writes of unseen values are one class of twenty interchangeable ops.
fn model(ops: &[RegOp]) -> Vec<RegOp> {
    let mut seen = HashSet::new();
    for op in ops {
        match op.kind {
            Kind::Read(Some(v)) if op.ret.is_some() => {
                seen.insert(v);
            }
            Kind::Cas { expect: Some(v), .. } => {
                seen.insert(v);
            }
            _ => {}
        }
    }
    let hide = |v: Val| if seen.contains(&v) { v } else { UNSEEN };
    let mut classes: HashMap<Kind, u32> = HashMap::new();
    ops.iter()
        .map(|op| {
            let kind = match op.kind {
                Kind::Write(v) => Kind::Write(hide(v)),
                Kind::Cas { expect, value } => Kind::Cas { expect, value: hide(value) },
                k => k,
            };
            let next = u32::try_from(classes.len()).expect("fewer than 2^32 classes");
            let class = op.ret.is_none().then(|| *classes.entry(kind).or_insert(next));
            RegOp { kind, class, ..op.clone() }
        })
        .collect()
}

/// The register's sequential specification.
fn step(state: &Option<Val>, op: &RegOp) -> Option<Option<Val>> {
    let known = op.ret.is_some();
    match op.kind {
        Kind::Write(v) => Some(Some(v)),
        Kind::Read(v) => (*state == v).then_some(v),
        // A delete answered ok found the node; an unknown one leaves it absent either way.
        Kind::Delete => (!known || state.is_some()).then_some(None),
        Kind::Cas { expect, value } if *state == expect => Some(Some(value)),
        // Wrong value: an unknown cas failed here (no effect); a known one cannot go here.
        Kind::Cas { .. } => (!known).then_some(*state),
    }
}

/// The operations of one key.
#[derive(Debug, Default)]
struct KeyOps {
    ops: Vec<RegOp>,
    /// Values written by operations that failed (`ok: false`), with their lines: a read of
    /// one of them is the likeliest explanation of a violation.
    failed_writes: Vec<(Val, usize)>,
}

/// A parsed history, split per key.
#[derive(Debug, Default)]
pub struct History {
    keys: BTreeMap<String, KeyOps>,
    values: Vec<String>,
    value_ids: HashMap<String, Val>,
    /// Lines read (operations, checked or not).
    lines: usize,
    /// Operations dropped: failed ones, and reads with an unknown outcome.
    dropped: usize,
    /// The earliest call, so messages can show times relative to it.
    first_call: Option<u64>,
}

/// Default search budget per key for [`History::check`].
pub const STEPS_MAX_DEFAULT: u64 = 50_000_000;

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Parses a whole JSON Lines text; blank lines are skipped.
    ///
    /// # Errors
    /// The first malformed line, by number.
    pub fn parse(text: &str) -> Result<History, ParseError> {
        let mut h = History::new();
        for (i, line) in text.lines().enumerate() {
            h.push_line(i + 1, line)?;
        }
        Ok(h)
    }

    /// Adds one line (numbered by the caller, for messages); a blank line is skipped.
    ///
    /// # Errors
    /// When the line is not one operation of the format in the module documentation.
    pub fn push_line(&mut self, line: usize, text: &str) -> Result<(), ParseError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let err = |msg: String| ParseError { line, msg };
        let Value::Object(fields) = json::parse(text).map_err(err)? else {
            return Err(err("expected a JSON object".into()));
        };
        let line_op = Line::read(&fields).map_err(err)?;
        self.add(line, line_op);
        Ok(())
    }

    fn intern(&mut self, v: &str) -> Val {
        if let Some(id) = self.value_ids.get(v) {
            return *id;
        }
        let id = Val::try_from(self.values.len())
            .ok()
            .filter(|&id| id != UNSEEN)
            .expect("fewer than 2^32 - 1 distinct values");
        self.values.push(v.to_string());
        self.value_ids.insert(v.to_string(), id);
        id
    }

    fn add(&mut self, line: usize, l: Line) {
        self.lines += 1;
        self.first_call = Some(self.first_call.map_or(l.call, |c| c.min(l.call)));
        let kind = match &l.kind {
            LineKind::Write(v) => Kind::Write(self.intern(v)),
            LineKind::Read(v) => Kind::Read(v.as_deref().map(|v| self.intern(v))),
            LineKind::Delete => Kind::Delete,
            LineKind::Cas { expect, value } => {
                Kind::Cas { expect: expect.as_deref().map(|v| self.intern(v)), value: self.intern(value) }
            }
        };
        let key = self.keys.entry(l.key).or_default();
        let ret = match l.outcome {
            Outcome::Failed => {
                if let Kind::Write(v) | Kind::Cas { value: v, .. } = kind {
                    key.failed_writes.push((v, line));
                }
                self.dropped += 1;
                return;
            }
            Outcome::Unknown if matches!(kind, Kind::Read(_)) => {
                self.dropped += 1;
                return;
            }
            Outcome::Unknown => None,
            Outcome::Ok(ret) => Some(ret),
        };
        key.ops.push(RegOp { line, process: l.process, call: l.call, ret, kind, class: None });
    }

    /// Checks every key with a budget of `steps_max` search steps each.
    pub fn check(&self, steps_max: u64) -> Report {
        let mut report = Report {
            ops: self.lines,
            keys: self.keys.len(),
            checked: 0,
            pending: 0,
            dropped: self.dropped,
            violations: Vec::new(),
            undecided: Vec::new(),
        };
        for (key, k) in &self.keys {
            report.checked += k.ops.len();
            report.pending += k.ops.iter().filter(|o| o.ret.is_none()).count();
            match linear::search(&model(&k.ops), None, step, Pending::WhenNeeded, steps_max) {
                Search::Linearizable => {}
                Search::Violation { longest } => {
                    report.violations.push(Violation { key: key.clone(), explanation: self.explain(k, &longest) })
                }
                Search::GaveUp => report.undecided.push(key.clone()),
            }
        }
        report
    }

    /// Says where the longest explainable order got stuck: the state it reached, the
    /// completed operation that could not go next, and the ones that could have gone
    /// before it.
    fn explain(&self, k: &KeyOps, longest: &[usize]) -> Vec<String> {
        const OVERLAPPING_MAX: usize = 8;
        let mut state = None;
        let mut setter = None;
        for &i in longest {
            state = step(&state, &k.ops[i]).expect("the search's prefix replays");
            if !matches!(k.ops[i].kind, Kind::Read(_)) {
                setter = Some(i);
            }
        }
        let mut out = vec![format!(
            "{} of {} ops linearize; then the value is {}{}",
            longest.len(),
            k.ops.len(),
            self.show(state),
            setter.map_or_else(|| " (initial)".to_string(), |i| format!(", last set by {}", self.describe(&k.ops[i])))
        )];
        let mut done = vec![false; k.ops.len()];
        longest.iter().for_each(|&i| done[i] = true);
        let left = || (0..k.ops.len()).filter(|&i| !done[i]);
        let Some(stuck) = left().filter(|&i| k.ops[i].ret.is_some()).min_by_key(|&i| (k.ops[i].ret, i)) else {
            return out;
        };
        let stuck_op = &k.ops[stuck];
        out.push(format!(
            "cannot take effect before it returns: {}{}",
            self.describe(stuck_op),
            self.hint(k, stuck_op)
        ));
        let until = stuck_op.ret.unwrap_or(u64::MAX);
        let (answered, unknown): (Vec<usize>, Vec<usize>) =
            left().filter(|&i| i != stuck && k.ops[i].call <= until).partition(|&i| k.ops[i].ret.is_some());
        if answered.is_empty() && unknown.is_empty() {
            out.push("and no other op could have gone first".into());
        }
        for &i in answered.iter().take(OVERLAPPING_MAX) {
            out.push(format!("could have gone first: {}{}", self.describe(&k.ops[i]), self.hint(k, &k.ops[i])));
        }
        if answered.len() > OVERLAPPING_MAX {
            out.push(format!("and {} more overlapping answered ops", answered.len() - OVERLAPPING_MAX));
        }
        if !unknown.is_empty() {
            let mut lines: Vec<String> =
                unknown.iter().take(OVERLAPPING_MAX).map(|&i| k.ops[i].line.to_string()).collect();
            if unknown.len() > OVERLAPPING_MAX {
                lines.push("...".into());
            }
            out.push(format!(
                "and {} ops of unknown outcome, none of which helps: line {}",
                unknown.len(),
                lines.join(", ")
            ));
        }
        out
    }

    /// For a read or cas of a value: who wrote it, or who tried to.
    fn hint(&self, k: &KeyOps, op: &RegOp) -> String {
        const WRITERS_MAX: usize = 3;
        let wanted = match op.kind {
            Kind::Read(Some(v)) | Kind::Cas { expect: Some(v), .. } => v,
            _ => return String::new(),
        };
        let written = |o: &&RegOp| matches!(o.kind, Kind::Write(v) | Kind::Cas { value: v, .. } if v == wanted);
        let writers: Vec<String> = k.ops.iter().filter(written).map(|o| o.line.to_string()).collect();
        let failed: Vec<String> =
            k.failed_writes.iter().filter(|(v, _)| *v == wanted).map(|(_, l)| l.to_string()).collect();
        let v = self.show(Some(wanted));
        match (writers.len(), failed.is_empty()) {
            (0, true) => format!(" ({v} is never written to this key)"),
            (0, false) => format!(" ({v} is written only by failed ops, line {})", failed.join(", ")),
            (n, _) if n <= WRITERS_MAX => format!(" ({v} is written by line {})", writers.join(", ")),
            (n, _) => format!(" ({v} is written by {n} ops, line {}, ...)", writers[..WRITERS_MAX].join(", ")),
        }
    }

    fn show(&self, v: Option<Val>) -> String {
        v.map_or_else(|| "absent".to_string(), |v| format!("{:?}", self.values[v as usize]))
    }

    /// `line 12: process 3 read -> "a1" [+1.250ms, +1.300ms]`.
    fn describe(&self, op: &RegOp) -> String {
        let what = match op.kind {
            Kind::Write(v) => format!("write {}", self.show(Some(v))),
            Kind::Read(v) => format!("read -> {}", self.show(v)),
            Kind::Delete => "delete".to_string(),
            Kind::Cas { expect, value } => format!("cas {} -> {}", self.show(expect), self.show(Some(value))),
        };
        let t0 = self.first_call.unwrap_or(0);
        let ms = |t: u64| format!("+{:.3}ms", (t - t0) as f64 / 1e6);
        let ret = op.ret.map_or_else(|| "unknown outcome".to_string(), ms);
        format!("line {}: process {} {what} [{}, {ret}]", op.line, op.process, ms(op.call))
    }
}

/// A key whose history no order explains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The key (znode path).
    pub key: String,
    /// A few lines saying where the search got stuck (see [`History::check`]).
    pub explanation: Vec<String>,
}

/// What [`History::check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Operations read.
    pub ops: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Operations given to the search.
    pub checked: usize,
    /// Of those, with an unknown outcome.
    pub pending: usize,
    /// Failed operations and reads with an unknown outcome, which constrain nothing.
    pub dropped: usize,
    /// Keys that are not linearizable.
    pub violations: Vec<Violation>,
    /// Keys whose search ran out of steps.
    pub undecided: Vec<String>,
}

/// The overall answer of a [`Report`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conclusion {
    /// Every key is linearizable.
    Linearizable,
    /// Some key is not.
    NotLinearizable,
    /// No key is known to violate, but some search ran out of steps.
    Undecided,
}

impl fmt::Display for Conclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conclusion::Linearizable => "linearizable",
            Conclusion::NotLinearizable => "not linearizable",
            Conclusion::Undecided => "undecided",
        })
    }
}

impl Report {
    /// The overall answer (a violation wins over an undecided key).
    pub fn conclusion(&self) -> Conclusion {
        if !self.violations.is_empty() {
            Conclusion::NotLinearizable
        } else if !self.undecided.is_empty() {
            Conclusion::Undecided
        } else {
            Conclusion::Linearizable
        }
    }
}

/// A recorded outcome.
enum Outcome {
    /// Succeeded; returned at this time.
    Ok(u64),
    Failed,
    Unknown,
}

enum LineKind {
    Write(String),
    Read(Option<String>),
    Delete,
    Cas { expect: Option<String>, value: String },
}

/// One line, validated, before interning.
struct Line {
    process: String,
    key: String,
    kind: LineKind,
    call: u64,
    outcome: Outcome,
}

impl Line {
    fn read(fields: &[(String, Value)]) -> Result<Line, String> {
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let string = |name: &str| match field(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{name:?} must be a string")),
            None => Err(format!("missing field {name:?}")),
        };
        // Present and null is "absent"; a missing field is a recording bug.
        let string_or_null = |name: &str| match field(name) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Null) => Ok(None),
            Some(_) => Err(format!("{name:?} must be a string or null")),
            None => Err(format!("missing field {name:?} (use null for absent)")),
        };
        let time = |name: &str, v: &Value| match v {
            Value::Number(n) => n.parse::<u64>().map_err(|_| format!("{name:?} must be a non-negative integer (ns)")),
            _ => Err(format!("{name:?} must be a non-negative integer (ns)")),
        };
        let key = string("key")?;
        if key.is_empty() {
            return Err("\"key\" is empty".into());
        }
        let process = match field("process") {
            None => "?".to_string(),
            Some(Value::Number(n)) => n.clone(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err("\"process\" must be a number or a string".into()),
        };
        let call = time("call", field("call").ok_or("missing field \"call\"")?)?;
        let ret = match field("return") {
            None | Some(Value::Null) => None,
            Some(v) => Some(time("return", v)?),
        };
        if ret.is_some_and(|r| r < call) {
            return Err("\"return\" is before \"call\"".into());
        }
        let outcome = match (field("ok"), ret) {
            (Some(Value::Bool(true)), Some(r)) => Outcome::Ok(r),
            (Some(Value::Bool(true)), None) => return Err("\"ok\" is true but \"return\" is missing or null".into()),
            (Some(Value::Bool(false)), _) => Outcome::Failed,
            (None | Some(Value::Null), _) => Outcome::Unknown,
            (Some(_), _) => return Err("\"ok\" must be true, false or null".into()),
        };
        let known = matches!(outcome, Outcome::Ok(_));
        let kind = match string("op")?.as_str() {
            "write" => LineKind::Write(string("value")?),
            // Only a successful read's value matters.
            "read" if known => LineKind::Read(string_or_null("value")?),
            "read" => LineKind::Read(None),
            "delete" => LineKind::Delete,
            "cas" => LineKind::Cas { expect: string_or_null("expect")?, value: string("value")? },
            other => return Err(format!("unknown op {other:?} (write, read, delete or cas)")),
        };
        Ok(Line { process, key, kind, call, outcome })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lines: &[&str]) -> Report {
        History::parse(&lines.join("\n")).expect("parses").check(1_000_000)
    }

    #[test]
    fn unknown_cas_applies_only_on_its_expected_value() {
        let r = check(&[
            r#"{"process":1,"key":"/k","op":"write","value":"a","call":1,"return":2,"ok":true}"#,
            r#"{"process":2,"key":"/k","op":"cas","expect":"b","value":"c","call":3,"return":null,"ok":null}"#,
            r#"{"process":1,"key":"/k","op":"read","value":"a","call":5,"return":6,"ok":true}"#,
        ]);
        assert_eq!(r.conclusion(), Conclusion::Linearizable);
        let r = check(&[
            r#"{"process":1,"key":"/k","op":"write","value":"a","call":1,"return":2,"ok":true}"#,
            r#"{"process":2,"key":"/k","op":"cas","expect":"b","value":"c","call":3,"ok":null}"#,
            r#"{"process":1,"key":"/k","op":"read","value":"c","call":5,"return":6,"ok":true}"#,
        ]);
        assert_eq!(r.conclusion(), Conclusion::NotLinearizable);
    }
}
