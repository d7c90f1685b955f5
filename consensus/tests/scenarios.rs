//! Protocol stories as scenario files (style §4.10, etcd-raft `testdata/*.txt`): each file
//! in `testdata/` is a list of commands, each followed by `----` and the exact output it
//! must print. `REWRITE=1 cargo test -p ferrozk-consensus --test scenarios` rewrites the
//! expected outputs; review the diff before committing it.
//!
//! Commands: `cluster VOTERS [OBSERVERS]`, `tick N [xK]`, `campaign N`, `stabilize`,
//! `propose N TEXT`, `sync N ID`, `partition 1 2 | 3` (replaces any earlier one), `heal`, `crash N`, `restart N`,
//! `status`. Disks are synchronous here (everything persisted at once); the simulator covers
//! slow and lossy disks. Message lines read `from->to Message`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

use ferrozk_consensus::sim::{describe, describe_entry};
use ferrozk_consensus::{Config, Entry, Message, Recovered, Replica, RoleKind, ServerId};

struct Node {
    replica: Option<Replica>,
    disk: Recovered,
    cfg: Config,
}

#[derive(Default)]
struct Harness {
    nodes: BTreeMap<u32, Node>,
    queue: VecDeque<(u32, u32, Message)>,
    cut: BTreeSet<(u32, u32)>,
}

impl Harness {
    fn cluster(&mut self, voters: u32, observers: u32) {
        let v: Vec<ServerId> = (1..=voters).map(ServerId).collect();
        let o: Vec<ServerId> = (voters + 1..=voters + observers).map(ServerId).collect();
        for id in 1..=voters + observers {
            // Long election timeouts: scenarios decide who campaigns.
            let mut cfg = Config::new(ServerId(id), v.clone(), o.clone(), u64::from(id));
            cfg.sync_limit_ticks = 50;
            cfg.init_limit_ticks = 100;
            let node = Node { replica: Some(Replica::new(cfg.clone())), disk: Recovered::default(), cfg };
            self.nodes.insert(id, node);
        }
    }

    /// Runs a node's actions to quiescence with an instant disk; returns what it printed.
    fn settle(&mut self, id: u32, out: &mut String) {
        let node = self.nodes.get_mut(&id).expect("node");
        let Some(r) = node.replica.as_mut() else { return };
        loop {
            let a = r.take_actions();
            if a.is_empty() {
                return;
            }
            if let Some(p) = a.persist {
                if let Some(h) = p.hard_state {
                    node.disk.hard_state = h;
                }
                node.disk.entries.extend(p.entries);
                r.persisted(p.token);
            }
            for e in a.send {
                self.queue.push_back((id, e.to.0, e.msg));
            }
            for c in a.committed {
                let _ = writeln!(out, "s{id} applies {}={} zxid {}", c.slot, entry(&c.entry), c.zxid);
            }
            for s in a.synced {
                let _ = writeln!(out, "s{id} synced {} read index {}", s.id, s.read_index);
            }
        }
    }

    fn settle_all(&mut self, out: &mut String) {
        let ids: Vec<u32> = self.nodes.keys().copied().collect();
        ids.into_iter().for_each(|id| self.settle(id, out));
    }

    fn stabilize(&mut self, out: &mut String) {
        self.settle_all(out);
        let mut budget = 10_000;
        while let Some((from, to, msg)) = self.queue.pop_front() {
            budget -= 1;
            assert!(budget > 0, "stabilize does not settle");
            let down = self.nodes[&to].replica.is_none();
            if down || self.cut.contains(&(from.min(to), from.max(to))) {
                let _ = writeln!(out, "drop {from}->{to} {}", describe(&msg));
                continue;
            }
            let _ = writeln!(out, "{from}->{to} {}", describe(&msg));
            self.replica(to).step(ServerId(from), msg);
            self.settle(to, out);
        }
    }

    fn replica(&mut self, id: u32) -> &mut Replica {
        self.nodes.get_mut(&id).and_then(|n| n.replica.as_mut()).unwrap_or_else(|| panic!("s{id} is down"))
    }

    fn run(&mut self, line: &str) -> String {
        let mut out = String::new();
        let words: Vec<&str> = line.split_whitespace().collect();
        let id = |i: usize| words[i].parse::<u32>().expect("server number");
        match words[0] {
            "cluster" => self.cluster(id(1), words.get(2).map_or(0, |_| id(2))),
            "tick" => {
                let times = words.get(2).map_or(1, |w| w.trim_start_matches('x').parse().expect("xK"));
                for _ in 0..times {
                    self.replica(id(1)).tick();
                    self.settle(id(1), &mut out);
                }
            }
            "campaign" => {
                // Ticks until the election timer fires: the pre-vote (or, with no peers to
                // ask, phase 1 itself) is then queued for `stabilize`.
                for _ in 0..1000 {
                    if self.replica(id(1)).status().role == RoleKind::Candidate || !self.queue.is_empty() {
                        break;
                    }
                    self.replica(id(1)).tick();
                    self.settle(id(1), &mut out);
                }
            }
            "stabilize" => self.stabilize(&mut out),
            "propose" => {
                match self.replica(id(1)).propose(words[2].as_bytes().to_vec()) {
                    Ok(p) => writeln!(out, "proposed slot {} zxid {}", p.slot, p.zxid),
                    Err(e) => writeln!(out, "{e}"),
                }
                .expect("write to string");
                self.settle(id(1), &mut out);
            }
            "sync" => {
                let res = self.replica(id(1)).sync(words[2].parse().expect("id"));
                let _ = writeln!(out, "{res:?}");
                self.settle(id(1), &mut out);
            }
            "partition" => {
                let (a, b) = line["partition".len()..].split_once('|').expect("a | b");
                let side = |s: &str| s.split_whitespace().map(|w| w.parse::<u32>().expect("id")).collect::<Vec<_>>();
                self.cut.clear();
                for x in side(a) {
                    for y in side(b) {
                        self.cut.insert((x.min(y), x.max(y)));
                    }
                }
            }
            "heal" => self.cut.clear(),
            "crash" => self.nodes.get_mut(&id(1)).expect("node").replica = None,
            "restart" => {
                let n = self.nodes.get_mut(&id(1)).expect("node");
                n.replica = Some(Replica::restore(n.cfg.clone(), n.disk.clone()));
                self.settle(id(1), &mut out);
            }
            "status" => {
                for (id, n) in &self.nodes {
                    match &n.replica {
                        None => {
                            let _ = writeln!(out, "s{id} down");
                        }
                        Some(r) => {
                            let st = r.status();
                            let _ = writeln!(
                                out,
                                "s{id} {:?} promised {} leader {:?} chosen {}",
                                st.role,
                                st.promised,
                                st.leader.map(|l| l.0),
                                st.chosen
                            );
                        }
                    }
                }
            }
            other => panic!("unknown scenario command {other}"),
        }
        out
    }
}

fn entry(e: &Entry) -> String {
    match e {
        Entry::Batch { data, .. } => String::from_utf8_lossy(data).into_owned(),
        Entry::Noop => describe_entry(e),
    }
}

/// Runs one file; returns its text with the actual outputs in place of the expected ones.
fn run_file(text: &str) -> String {
    let mut h = Harness::default();
    let mut rewritten = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        rewritten.push_str(line);
        rewritten.push('\n');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        assert_eq!(lines.next(), Some("----"), "command `{line}` must be followed by ----");
        while lines.peek().is_some_and(|l| !l.trim().is_empty()) {
            lines.next();
        }
        rewritten.push_str("----\n");
        rewritten.push_str(&h.run(line));
    }
    rewritten
}

#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut failed = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("testdata") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let actual = run_file(&text);
        if actual != text {
            if std::env::var_os("REWRITE").is_some() {
                std::fs::write(&path, &actual).expect("rewrite");
            } else {
                failed.push(format!("{}:\n{actual}", path.display()));
            }
        }
    }
    assert!(failed.is_empty(), "scenario output differs (REWRITE=1 to accept):\n{}", failed.join("\n"));
}
