//! Faults: crashes, power loss, partitions, cut links; then healing and restarts.

use super::*;

impl World {
    pub(super) fn fault(&mut self) {
        if self.now >= self.faults_until {
            self.trace(|| "faults stop: heal, restart all".to_string());
            self.net.drop_pm = 0;
            self.net.dup_pm = 0;
            self.net.delay_max = self.net.delay_max.min(TICK);
            self.net.group = None;
            self.net.cut.clear();
            for i in 0..self.nodes.len() {
                if !self.nodes[i].up {
                    self.schedule(1, Event::Restart(i));
                }
            }
            return;
        }
        let n = self.nodes.len();
        if self.rng.chance(self.crash_pm) {
            let i = self.rng.below(n as u64) as usize;
            self.crash(i);
        }
        if self.rng.chance(self.power_pm) {
            // A rack loses power: each node goes down with it at 70%, all at the same instant,
            // so writes acknowledged but not yet fsynced vanish from several disks at once.
            self.trace(|| "power loss".to_string());
            for i in 0..n {
                if self.rng.chance(700) {
                    self.crash(i);
                }
            }
        }
        if self.rng.chance(60) {
            if self.net.group.is_some() {
                self.trace(|| "partition heals".to_string());
                self.net.group = None;
            } else {
                let g: Vec<u8> = (0..n).map(|_| self.rng.below(2) as u8).collect();
                self.trace(|| format!("partition {g:?}"));
                self.net.group = Some(g);
            }
        }
        if self.rng.chance(60) {
            if self.rng.chance(300) {
                self.trace(|| "links heal".to_string());
                self.net.cut.clear();
            } else {
                let (a, b) = (self.rng.below(n as u64) as usize, self.rng.below(n as u64) as usize);
                if a != b {
                    self.trace(|| format!("link s{}-s{} cut", a + 1, b + 1));
                    self.net.cut.insert((a.min(b), a.max(b)));
                }
            }
        }
        self.schedule(TICK, Event::Fault);
    }

    pub(super) fn crash(&mut self, i: usize) {
        if !self.nodes[i].up {
            return;
        }
        self.stats.crashes += 1;
        self.trace(|| format!("s{} crashes", i + 1));
        let n = &mut self.nodes[i];
        n.up = false;
        n.inc += 1;
        n.replica = None;
        n.disk.crash(&mut self.rng);
        n.writes.clear();
        n.syncs.clear();
        n.reads.clear();
        n.batch.clear();
        let down = self.rng.range(TICK, 40 * TICK);
        self.schedule(down, Event::Restart(i));
    }

    pub(super) fn restart(&mut self, i: usize) {
        if self.nodes[i].up {
            return;
        }
        self.trace(|| format!("s{} restarts", i + 1));
        let (rec, snap) = self.nodes[i].disk.recover();
        let seed = self.rng.next_u64();
        let period = self.rng.range(TICK - 2, TICK + 2);
        let n = &mut self.nodes[i];
        n.kv = snap.as_ref().map(|s| Kv::decode(&s.data)).unwrap_or_default();
        n.applied = snap.as_ref().map_or(0, |s| s.meta.slot);
        n.last_zxid = snap.as_ref().map_or(Zxid(0), |s| s.meta.last_zxid);
        n.last_snap = n.applied;
        n.cfg.seed = seed;
        n.period = period;
        n.replica = Some(Replica::restore(n.cfg.clone(), rec));
        n.up = true;
        self.drive(i);
        self.schedule(period, Event::Tick(i));
    }
}
