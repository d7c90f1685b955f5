//! The replica tested by its exact output, each test citing the rule it checks (style §4.9:
//! openraft's `elect_test.rs`, raft-rs's `// Reference: section 5.1`).

use ferrozk_consensus::{
    Actions, Ballot, Committed, Config, Entry, Envelope, HardState, LogEntry, Message, NotLeader, PersistBatch,
    Proposed, Recovered, Replica, RoleKind, ServerId, Snapshot, SnapshotMeta, Synced, Zxid,
};

fn s(id: u32) -> ServerId {
    ServerId(id)
}
fn b(epoch: u32, id: u32) -> Ballot {
    Ballot { epoch, id: ServerId(id) }
}
fn to(id: u32, msg: Message) -> Envelope {
    Envelope { to: ServerId(id), msg }
}
fn batch(epoch: u32, counter: u32, data: &str) -> Entry {
    Entry::Batch { zxid: Zxid::new(epoch, counter), data: data.as_bytes().to_vec() }
}
fn committed(slot: u64, zxid: (u32, u32), entry: Entry) -> Committed {
    Committed { slot, zxid: Zxid::new(zxid.0, zxid.1), entry }
}
fn config(id: u32) -> Config {
    Config::new(s(id), vec![s(1), s(2), s(3)], vec![], 9)
}

/// The ballot of the pre-vote among `sent`, if any.
fn pre_vote_ballot(sent: &[Envelope]) -> Option<Ballot> {
    sent.iter().find_map(|e| match e.msg {
        Message::PreVote { ballot, .. } => Some(ballot),
        _ => None,
    })
}

/// Ticks until the replica asks for pre-votes, grants it s2's, and returns the actions of
/// the phase 1 that follows.
fn tick_until_candidate(r: &mut Replica) -> Actions {
    for _ in 0..100 {
        r.tick();
        let a = r.take_actions();
        if let Some(ballot) = pre_vote_ballot(&a.send) {
            assert_eq!(r.status().role, RoleKind::Follower, "pre-vote changes nothing");
            assert!(a.persist.is_none(), "pre-vote persists nothing");
            r.step(s(2), Message::PreVoteReply { ballot, granted: true, promised: Ballot::ZERO });
            assert_eq!(r.status().role, RoleKind::Candidate);
            return r.take_actions();
        }
    }
    panic!("never campaigned");
}

#[test]
fn pre_vote_keeps_a_cut_off_server_from_raising_its_ballot() {
    // Raft thesis §9.6: a server that cannot reach a majority asks and is not answered, so
    // its ballot stays where it was and it follows the current leader when it comes back.
    let mut r = Replica::new(config(1));
    r.step(s(2), Message::Heartbeat { ballot: b(2, 2), commit: 0, seq: 1 });
    assert_eq!(r.status().leader, Some(s(2)));
    for _ in 0..500 {
        r.tick();
        drain(&mut r);
    }
    assert_eq!(r.status().role, RoleKind::Follower);
    assert_eq!(r.status().promised, b(2, 2), "no ballot raised without a pre-vote quorum");
    assert_eq!(r.status().leader, None);
    r.step(s(2), Message::Heartbeat { ballot: b(2, 2), commit: 0, seq: 1 });
    assert_eq!(r.status().leader, Some(s(2)), "follows the leader it hears");
}

#[test]
fn a_follower_that_hears_its_leader_refuses_pre_votes() {
    // A voter grants a pre-vote only when it has no live leader itself, so a server that
    // comes back from a partition cannot depose a working leader.
    let mut r = Replica::new(config(2));
    r.step(s(1), Message::Heartbeat { ballot: b(3, 1), commit: 0, seq: 1 });
    drain(&mut r);
    r.step(s(3), Message::PreVote { ballot: b(5, 3), commit: 0 });
    let a = r.take_actions();
    assert_eq!(a.send, vec![to(3, Message::PreVoteReply { ballot: b(5, 3), granted: false, promised: b(3, 1) })]);
    // Once the leader has been silent for two heartbeat intervals, the answer is yes.
    r.tick();
    r.tick();
    r.step(s(3), Message::PreVote { ballot: b(5, 3), commit: 0 });
    let a = r.take_actions();
    assert_eq!(a.send, vec![to(3, Message::PreVoteReply { ballot: b(5, 3), granted: true, promised: b(3, 1) })]);
    assert_eq!(r.status().promised, b(3, 1), "a pre-vote changes no promise");
}

/// s1 leads ballot (3,1) over s1..s3 with an empty log; its output so far is discarded.
fn leader() -> Replica {
    let mut r = Replica::new(config(1));
    let a = tick_until_candidate(&mut r);
    r.persisted(a.persist.expect("promise").token);
    r.step(s(2), Message::Promise { ballot: b(3, 1), accepted: vec![] });
    assert_eq!(r.status().role, RoleKind::Leader);
    drain(&mut r);
    r
}

/// Persists and releases everything pending.
fn drain(r: &mut Replica) {
    loop {
        let a = r.take_actions();
        if a.is_empty() {
            return;
        }
        if let Some(p) = a.persist {
            r.persisted(p.token);
        }
    }
}

#[test]
fn campaign_persists_the_promise_and_prepares_every_other_voter() {
    // Paxos Made Simple §2.2: a proposer picks a ballot higher than any it has seen and
    // sends prepare requests; its own acceptor's promise counts only once durable. Ballot
    // epochs are dealt round-robin: s1 of three owns epochs 3, 6, 9, ...
    let mut r = Replica::new(config(1));
    let a = tick_until_candidate(&mut r);
    let want = Actions {
        persist: Some(PersistBatch {
            token: 1,
            snapshot: None,
            entries: vec![],
            hard_state: Some(HardState { promised: b(3, 1), commit: 0 }),
        }),
        send: vec![
            to(2, Message::Prepare { ballot: b(3, 1), from_slot: 1 }),
            to(3, Message::Prepare { ballot: b(3, 1), from_slot: 1 }),
        ],
        ..Actions::default()
    };
    assert_eq!(a, want);
    // One promise from another voter is not yet a majority: our own is not durable.
    r.step(s(2), Message::Promise { ballot: b(3, 1), accepted: vec![] });
    assert_eq!(r.status().role, RoleKind::Candidate);
    r.persisted(1);
    assert_eq!(r.status().role, RoleKind::Leader);
}

#[test]
fn promise_leaves_only_after_it_is_durable() {
    // Paxos Made Live §4.1 / design.md: "a promise ... is on disk before the message that
    // reports it leaves".
    let mut r = Replica::new(config(2));
    r.step(s(1), Message::Prepare { ballot: b(3, 1), from_slot: 1 });
    let a = r.take_actions();
    assert_eq!(a.persist.as_ref().unwrap().hard_state, Some(HardState { promised: b(3, 1), commit: 0 }));
    assert_eq!(a.send, vec![]);
    r.persisted(a.persist.unwrap().token);
    assert_eq!(r.take_actions().send, vec![to(1, Message::Promise { ballot: b(3, 1), accepted: vec![] })]);
}

#[test]
fn lower_ballot_prepare_is_refused_at_once() {
    // Paxos Made Simple §2.2 (P1a): never promise below an existing promise.
    let mut r = Replica::new(config(2));
    r.step(s(1), Message::Prepare { ballot: b(3, 1), from_slot: 1 });
    drain(&mut r);
    r.step(s(3), Message::Prepare { ballot: b(2, 3), from_slot: 1 });
    let a = r.take_actions();
    assert_eq!(a.persist, None);
    assert_eq!(a.send, vec![to(3, Message::Nack { ballot: b(2, 3), promised: b(3, 1) })]);
}

#[test]
fn new_leader_reproposes_highest_ballot_values_and_fills_holes_with_noops() {
    // Paxos Made Simple §3: the new leader takes, for each open slot, the value of the
    // highest ballot reported, fills gaps with no-ops, and proposes them under its ballot.
    let mut r = Replica::new(config(1));
    let a = tick_until_candidate(&mut r);
    r.persisted(a.persist.unwrap().token);
    let accepted = vec![
        LogEntry { slot: 1, ballot: b(1, 2), entry: batch(1, 1, "old") },
        LogEntry { slot: 3, ballot: b(1, 2), entry: batch(1, 3, "z") },
    ];
    r.step(s(2), Message::Promise { ballot: b(3, 1), accepted });
    assert_eq!(r.status().role, RoleKind::Leader);
    let a = r.take_actions();
    let entries = vec![(1, batch(1, 1, "old")), (2, Entry::Noop), (3, batch(1, 3, "z"))];
    let accept = Message::Accept { ballot: b(3, 1), entries, commit: 0 };
    let hb = Message::Heartbeat { ballot: b(3, 1), commit: 0, seq: 1 };
    assert_eq!(a.send, vec![to(2, accept.clone()), to(3, accept), to(2, hb.clone()), to(3, hb)]);
    // The leader's own acceptor wrote the three values under its ballot.
    let slots: Vec<_> = a.persist.unwrap().entries.iter().map(|e| (e.slot, e.ballot)).collect();
    assert_eq!(slots, vec![(1, b(3, 1)), (2, b(3, 1)), (3, b(3, 1))]);
}

#[test]
fn values_overtaken_by_a_later_epoch_become_noops() {
    // A batch stamped fresh in epoch 2 at slot 1 proves epoch 2's recovery ended below slot
    // 1, so the epoch-1 value at slot 2 was never chosen; keeping it would put zxid 1:7
    // after 2:1 in the log (ZooKeeper needs zxids to grow).
    let mut r = Replica::new(config(1));
    let a = tick_until_candidate(&mut r);
    r.persisted(a.persist.unwrap().token);
    let accepted = vec![
        LogEntry { slot: 1, ballot: b(2, 3), entry: batch(2, 1, "new") },
        LogEntry { slot: 2, ballot: b(1, 2), entry: batch(1, 7, "stale") },
    ];
    r.step(s(2), Message::Promise { ballot: b(3, 1), accepted });
    let a = r.take_actions();
    let entries = vec![(1, batch(2, 1, "new")), (2, Entry::Noop)];
    assert_eq!(a.send[0], to(2, Message::Accept { ballot: b(3, 1), entries, commit: 0 }));
}

#[test]
fn accepted_leaves_only_after_the_entries_are_durable() {
    // Paxos Made Live §2.2: an acceptor must remember what it accepted across crashes.
    let mut r = Replica::new(config(2));
    let entries = vec![(1, batch(3, 1, "x"))];
    r.step(s(1), Message::Accept { ballot: b(3, 1), entries, commit: 0 });
    let a = r.take_actions();
    let p = a.persist.unwrap();
    assert_eq!(p.entries, vec![LogEntry { slot: 1, ballot: b(3, 1), entry: batch(3, 1, "x") }]);
    assert_eq!(a.send, vec![]);
    r.persisted(p.token);
    let want = Message::Accepted { ballot: b(3, 1), slots: vec![1], chosen: 0 };
    assert_eq!(r.take_actions().send, vec![to(1, want)]);
}

#[test]
fn leader_commits_on_a_majority_and_piggybacks_the_commit_point() {
    // Paxos Made Simple §2.3: a value is chosen once a majority accepted it; learners hear
    // the commit point on the next accept (and heartbeat).
    let mut r = leader();
    assert_eq!(r.propose(b"w1".to_vec()), Ok(Proposed { slot: 1, zxid: Zxid::new(3, 1) }));
    drain(&mut r); // own vote, once durable
    assert_eq!(r.status().chosen, 0);
    r.step(s(3), Message::Accepted { ballot: b(3, 1), slots: vec![1], chosen: 0 });
    let a = r.take_actions();
    assert_eq!(a.committed, vec![committed(1, (3, 1), batch(3, 1, "w1"))]);
    assert_eq!(a.persist.unwrap().hard_state, Some(HardState { promised: b(3, 1), commit: 1 }));
    r.propose(b"w2".to_vec()).unwrap();
    let a = r.take_actions();
    let accept = Message::Accept { ballot: b(3, 1), entries: vec![(2, batch(3, 2, "w2"))], commit: 1 };
    assert_eq!(a.send, vec![to(2, accept.clone()), to(3, accept)]);
}

#[test]
fn follower_learns_commit_only_for_values_of_the_committing_ballot() {
    // A leader proposes one value per slot per ballot, so an entry accepted under the
    // leader's ballot at or below its commit point is the chosen one; older ones are not.
    let mut r = Replica::new(config(2));
    r.step(s(3), Message::Accept { ballot: b(2, 3), entries: vec![(1, batch(2, 1, "old"))], commit: 0 });
    r.step(s(1), Message::Accept { ballot: b(3, 1), entries: vec![(2, batch(3, 1, "y"))], commit: 0 });
    drain(&mut r);
    r.step(s(1), Message::Heartbeat { ballot: b(3, 1), commit: 2, seq: 4 });
    let a = r.take_actions();
    assert_eq!(a.committed, vec![]);
    assert_eq!(a.send, vec![to(1, Message::HeartbeatAck { ballot: b(3, 1), seq: 4, chosen: 0 })]);
    // The leader then teaches slot 1's chosen value explicitly.
    r.step(s(1), Message::Learn { ballot: b(3, 1), entries: vec![(1, batch(2, 1, "old"))] });
    let a = r.take_actions();
    assert_eq!(a.committed, vec![committed(1, (2, 1), batch(2, 1, "old")), committed(2, (3, 1), batch(3, 1, "y"))]);
}

#[test]
fn sync_answers_only_after_a_quorum_confirms_the_leadership() {
    // Read index (Raft §6.4, design.md): a heartbeat round that starts after the sync and is
    // acknowledged by a majority proves no higher ballot was chosen meanwhile. One round is
    // in flight at a time; syncs arriving during it share the next one.
    let mut r = leader(); // its first round (seq 1) is still unacknowledged
    r.sync(7).unwrap();
    r.sync(8).unwrap();
    let a = r.take_actions();
    assert_eq!((a.send, a.synced), (vec![], vec![]));
    r.step(s(2), Message::HeartbeatAck { ballot: b(3, 1), seq: 1, chosen: 0 });
    let a = r.take_actions();
    let hb = Message::Heartbeat { ballot: b(3, 1), commit: 0, seq: 2 };
    assert_eq!((a.send, a.synced), (vec![to(2, hb.clone()), to(3, hb)], vec![]));
    r.step(s(3), Message::HeartbeatAck { ballot: b(3, 1), seq: 2, chosen: 0 });
    let want = vec![Synced { id: 7, read_index: 0 }, Synced { id: 8, read_index: 0 }];
    assert_eq!(r.take_actions().synced, want);
}

#[test]
fn followers_forward_sync_and_refuse_without_a_leader() {
    let mut r = Replica::new(config(2));
    assert_eq!(r.sync(1), Err(NotLeader { leader: None }));
    r.step(s(1), Message::Heartbeat { ballot: b(3, 1), commit: 0, seq: 1 });
    r.take_actions();
    r.sync(5).unwrap();
    assert_eq!(r.take_actions().send, vec![to(1, Message::SyncRequest { id: 5 })]);
    r.step(s(1), Message::SyncReply { id: 5, read_index: 9 });
    assert_eq!(r.take_actions().synced, vec![Synced { id: 5, read_index: 9 }]);
}

#[test]
fn leader_without_a_quorum_for_sync_limit_ticks_steps_down() {
    // ZooKeeper's syncLimit: a leader that cannot hear a quorum stops serving.
    let mut r = leader();
    for _ in 0..5 {
        r.tick();
    }
    assert_eq!(r.status().role, RoleKind::Leader);
    r.tick();
    assert_eq!(r.status().role, RoleKind::Follower);
    assert_eq!(r.propose(b"x".to_vec()), Err(NotLeader { leader: None }));
}

#[test]
fn exhausted_zxid_counter_moves_to_a_new_epoch_without_waiting() {
    let mut cfg = config(1);
    cfg.zxid_counter_max = 2;
    let mut r = Replica::new(cfg);
    let a = tick_until_candidate(&mut r);
    r.persisted(a.persist.unwrap().token);
    r.step(s(2), Message::Promise { ballot: b(3, 1), accepted: vec![] });
    drain(&mut r);
    assert_eq!(r.propose(b"1".to_vec()).unwrap().zxid, Zxid::new(3, 1));
    assert_eq!(r.propose(b"2".to_vec()).unwrap().zxid, Zxid::new(3, 2));
    assert_eq!(r.propose(b"3".to_vec()), Err(NotLeader { leader: Some(s(1)) }));
    let a = r.take_actions();
    assert_eq!(r.status().role, RoleKind::Candidate);
    assert!(a.send.contains(&to(2, Message::Prepare { ballot: b(6, 1), from_slot: 1 })));
}

#[test]
fn observers_neither_promise_nor_accept_but_learn() {
    let cfg = Config::new(s(4), vec![s(1), s(2), s(3)], vec![s(4)], 1);
    let mut r = Replica::new(cfg);
    for _ in 0..50 {
        r.tick();
    }
    r.step(s(1), Message::Prepare { ballot: b(3, 1), from_slot: 1 });
    r.step(s(1), Message::Accept { ballot: b(3, 1), entries: vec![(1, batch(3, 1, "x"))], commit: 0 });
    let a = r.take_actions();
    assert_eq!((a.send, a.persist), (vec![], None));
    r.step(s(1), Message::Learn { ballot: b(3, 1), entries: vec![(1, batch(3, 1, "x"))] });
    assert_eq!(r.take_actions().committed, vec![committed(1, (3, 1), batch(3, 1, "x"))]);
}

#[test]
fn a_peer_behind_the_compacted_log_gets_a_snapshot() {
    let mut r = leader();
    r.propose(b"a".to_vec()).unwrap();
    drain(&mut r);
    r.step(s(2), Message::Accepted { ballot: b(3, 1), slots: vec![1], chosen: 0 });
    drain(&mut r);
    r.compact(SnapshotMeta { slot: 1, last_zxid: Zxid::new(3, 1) });
    r.step(s(2), Message::HeartbeatAck { ballot: b(3, 1), seq: 1, chosen: 1 });
    r.step(s(3), Message::HeartbeatAck { ballot: b(3, 1), seq: 1, chosen: 0 });
    r.tick();
    assert_eq!(r.take_actions().snapshot_wanted, vec![s(3)]);
    let snap = Snapshot { meta: SnapshotMeta { slot: 1, last_zxid: Zxid::new(3, 1) }, data: b"state".to_vec() };
    r.send_snapshot(s(3), snap.clone());
    let msg = Message::InstallSnapshot { ballot: b(3, 1), snapshot: snap };
    assert!(r.take_actions().send.contains(&to(3, msg)));
}

#[test]
fn restart_hands_out_committed_entries_after_the_snapshot_again() {
    let rec = Recovered {
        hard_state: HardState { promised: b(3, 1), commit: 3 },
        snapshot: Some(SnapshotMeta { slot: 1, last_zxid: Zxid::new(3, 1) }),
        entries: vec![
            LogEntry { slot: 2, ballot: b(3, 1), entry: batch(3, 2, "b") },
            LogEntry { slot: 3, ballot: b(3, 1), entry: batch(3, 3, "c") },
            LogEntry { slot: 4, ballot: b(3, 1), entry: batch(3, 4, "d") },
        ],
    };
    let mut r = Replica::restore(config(2), rec);
    assert_eq!(
        r.take_actions().committed,
        vec![committed(2, (3, 2), batch(3, 2, "b")), committed(3, (3, 3), batch(3, 3, "c"))]
    );
    assert_eq!(r.status().chosen, 3);
}

#[test]
fn zxids_grow_along_the_log_even_when_a_stamp_does_not() {
    // A value re-proposed by a later leader can sit after a newer stamp; it takes effect with
    // the next zxid instead, the same on every replica (no-ops keep the previous one).
    let mut r = Replica::new(config(2));
    let entries = vec![(1, batch(36, 1, "newer")), (2, Entry::Noop), (3, batch(32, 4, "older"))];
    r.step(s(1), Message::Learn { ballot: b(45, 1), entries });
    let want = vec![
        committed(1, (36, 1), batch(36, 1, "newer")),
        committed(2, (36, 1), Entry::Noop),
        committed(3, (36, 2), batch(32, 4, "older")),
    ];
    assert_eq!(r.take_actions().committed, want);
}

#[test]
fn a_candidate_far_behind_is_refused_so_promises_stay_small() {
    // Refusing a promise is always safe (like being unreachable); it keeps a promise from
    // carrying a long-lagging candidate's whole gap, and a better-informed server wins.
    let mut cfg = config(2);
    cfg.promise_lag_max = 3;
    let mut r = Replica::new(cfg);
    let entries = (1..=5).map(|s| (s, batch(3, s as u32, "x"))).collect();
    r.step(s(1), Message::Learn { ballot: b(3, 1), entries });
    drain(&mut r);
    r.step(s(3), Message::Prepare { ballot: b(5, 3), from_slot: 2 });
    assert_eq!(r.take_actions().send, vec![to(3, Message::Nack { ballot: b(5, 3), promised: b(3, 1) })]);
    r.step(s(3), Message::Prepare { ballot: b(5, 3), from_slot: 3 });
    let a = r.take_actions();
    r.persisted(a.persist.unwrap().token);
    let accepted =
        (3..=5).map(|s| LogEntry { slot: s, ballot: Ballot::CHOSEN, entry: batch(3, s as u32, "x") }).collect();
    assert_eq!(r.take_actions().send, vec![to(3, Message::Promise { ballot: b(5, 3), accepted })]);
}

#[test]
fn an_observer_forgets_a_leader_it_has_not_heard_for_sync_limit_ticks() {
    // ZooKeeper's observers stop serving when they lose the leader, as followers do.
    let mut r = Replica::new(Config::new(s(4), vec![s(1), s(2), s(3)], vec![s(4)], 9));
    r.step(s(1), Message::Heartbeat { ballot: b(3, 1), commit: 0, seq: 1 });
    assert_eq!(r.status().leader, Some(s(1)));
    for _ in 0..4 {
        r.tick();
    }
    assert_eq!(r.status().leader, Some(s(1)), "still within syncLimit");
    r.step(s(1), Message::Heartbeat { ballot: b(3, 1), commit: 0, seq: 2 });
    for _ in 0..5 {
        r.tick();
    }
    assert_eq!(r.status().leader, None, "silent for syncLimit ticks");
    assert_eq!(r.status().role, RoleKind::Observer);
    drain(&mut r);
}

#[test]
fn a_broken_link_to_the_leader_starts_a_pre_vote_at_once() {
    // The host saw the leader's connection reset: ask now rather than after syncLimit; a
    // voter that saw the same break grants at once, one that still hears the leader refuses.
    let mut r = Replica::new(config(2));
    r.step(s(1), Message::Heartbeat { ballot: b(3, 1), commit: 0, seq: 1 });
    drain(&mut r);
    r.leader_unreachable();
    let a = r.take_actions();
    assert_eq!(pre_vote_ballot(&a.send), Some(b(4, 2)));
    assert_eq!(r.status().leader, None);
    r.step(s(3), Message::PreVote { ballot: b(6, 3), commit: 0 });
    let a = r.take_actions();
    assert_eq!(a.send, vec![to(3, Message::PreVoteReply { ballot: b(6, 3), granted: true, promised: b(3, 1) })]);
}
