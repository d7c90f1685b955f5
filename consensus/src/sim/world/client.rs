//! Clients: one operation at a time each, recorded in the history the checker judges.

use super::*;
use crate::replica::NotLeader;

impl World {
    pub(super) fn client_step(&mut self, c: usize) {
        if let Some(w) = &self.clients[c].waiting {
            if self.now < w.deadline {
                return;
            }
            let seq = w.seq;
            self.trace(|| format!("client {c} times out on op {seq}"));
            self.clients[c].waiting = None;
            self.clients[c].server = self.rng.below(self.nodes.len() as u64) as usize;
        }
        if self.now >= self.clients_until {
            return;
        }
        self.issue(c);
    }

    pub(super) fn issue(&mut self, c: usize) {
        self.clients[c].seq += 1;
        let seq = self.clients[c].seq;
        let key = self.rng.below(KEYS) as u8;
        let value = (c as u64 + 1) * 1_000_000 + seq;
        let input = match self.rng.below(10) {
            0..=1 => Input::Write(Write::Create(key, value)),
            2..=4 => Input::Write(Write::Set(key, value)),
            5 => Input::Write(Write::Delete(key)),
            _ => Input::Read,
        };
        let s = self.clients[c].server;
        let call = self.tick_clock();
        // Recorded before submitting: a server may answer within the same call.
        let hist = self.history.len();
        let op = Op { client: c as u32, call, ret: None, input, output: None };
        self.history.push((key, op));
        let deadline = self.now + 40 * TICK;
        self.clients[c].waiting = Some(Waiting { seq, hist, deadline });
        let started = self.submit(c, s, seq, key, input);
        let think = self.rng.range(1, 3 * TICK);
        match started {
            Ok(()) => {
                self.trace(|| format!("client {c} -> s{} op {seq} {input:?} key {key}", s + 1));
                self.schedule(40 * TICK, Event::Client(c));
            }
            Err(hint) => {
                // Definitely not started: not part of the history.
                self.history.pop();
                self.clients[c].waiting = None;
                let n = self.nodes.len() as u64;
                self.clients[c].server = hint.unwrap_or_else(|| self.rng.below(n) as usize);
                self.schedule(think, Event::Client(c));
            }
        }
    }

    /// Hands an operation to server `s`. `Err(hint)` means it was refused outright.
    /// Proposes the writes waiting at server `s` as one batch.
    pub(super) fn flush_batch(&mut self, s: usize) {
        if self.nodes[s].batch.is_empty() {
            return;
        }
        let cmds = std::mem::take(&mut self.nodes[s].batch);
        let n = cmds.len();
        if self.nodes[s].replica.as_mut().expect("up").propose(encode_batch(&cmds)).is_ok() {
            self.trace(|| format!("s{} proposes a batch of {n}", s + 1));
        }
    }

    pub(super) fn submit(&mut self, c: usize, s: usize, seq: u64, key: u8, input: Input) -> Result<(), Option<usize>> {
        if !self.nodes[s].up {
            return Err(None);
        }
        let res = match input {
            Input::Write(w) => {
                // Group commit as the server does: writes wait in a batch until it is full
                // or the next tick; a batch refused then is lost and its clients time out.
                let st = self.nodes[s].replica.as_ref().expect("up").status();
                if st.role == RoleKind::Leader {
                    let cmd = Cmd { client: c as u32, seq, origin: s as u32 + 1, write: w };
                    self.nodes[s].batch.push(cmd);
                    self.nodes[s].writes.insert((c as u32, seq));
                    if self.nodes[s].batch.len() >= self.batch_max {
                        self.flush_batch(s);
                    }
                    Ok(())
                } else {
                    Err(NotLeader { leader: st.leader })
                }
            }
            Input::Read => {
                let id = self.nodes[s].next_sync;
                self.nodes[s].next_sync += 1;
                let r = self.nodes[s].replica.as_mut().expect("up").sync(id);
                r.map(|_| {
                    self.nodes[s].syncs.insert(id, (c as u32, seq, key));
                })
            }
        };
        match res {
            Ok(()) => {
                self.drive(s);
                Ok(())
            }
            Err(e) => Err(e.leader.map(|l| l.0 as usize - 1)),
        }
    }

    pub(super) fn complete(&mut self, c: usize, seq: u64, out: Output) {
        let Some(w) = &self.clients[c].waiting else {
            return;
        };
        if w.seq != seq {
            return;
        }
        let hist = w.hist;
        let ret = self.tick_clock();
        self.history[hist].1.ret = Some(ret);
        self.history[hist].1.output = Some(out);
        match out {
            Output::Write(_) => self.stats.writes_acked += 1,
            Output::Read(_) => self.stats.reads_acked += 1,
        }
        self.trace(|| format!("client {c} <- op {seq} {out:?}"));
        self.clients[c].waiting = None;
        let think = self.rng.range(1, 3 * TICK);
        self.schedule(think, Event::Client(c));
    }

    pub(super) fn tick_clock(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}
