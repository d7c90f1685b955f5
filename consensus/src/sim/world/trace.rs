//! One-line renderings of messages and entries for traces.

use crate::message::Message;
use crate::types::{Entry, Slot};

pub(in crate::sim) fn brief_entry(e: &Entry) -> String {
    match e {
        Entry::Noop => "noop".into(),
        Entry::Batch { zxid, data } => format!("{zxid}:{}cmd", data.len() / 26),
    }
}

fn slots(entries: &[(Slot, Entry)]) -> String {
    let each: Vec<String> = entries.iter().map(|(s, e)| format!("{s}={}", brief_entry(e))).collect();
    format!("[{}]", each.join(" "))
}

/// One trace line per message.
pub(in crate::sim) fn brief(m: &Message) -> String {
    match m {
        Message::Prepare { ballot, from_slot } => format!("Prepare {ballot} from {from_slot}"),
        Message::Promise { ballot, accepted } => {
            let each: Vec<String> =
                accepted.iter().map(|e| format!("{}={}@{}", e.slot, brief_entry(&e.entry), e.ballot)).collect();
            format!("Promise {ballot} [{}]", each.join(" "))
        }
        Message::Nack { ballot, promised } => format!("Nack {ballot} promised {promised}"),
        Message::Accept { ballot, entries, commit } => format!("Accept {ballot} {} commit {commit}", slots(entries)),
        Message::Accepted { ballot, slots, chosen } => format!("Accepted {ballot} {slots:?} chosen {chosen}"),
        Message::Heartbeat { ballot, commit, seq } => format!("Heartbeat {ballot} commit {commit} seq {seq}"),
        Message::HeartbeatAck { ballot, seq, chosen } => format!("HeartbeatAck {ballot} seq {seq} chosen {chosen}"),
        Message::Learn { ballot, entries } => format!("Learn {ballot} {}", slots(entries)),
        Message::InstallSnapshot { ballot, snapshot } => {
            format!("InstallSnapshot {ballot} at {}", snapshot.meta.slot)
        }
        Message::SyncRequest { id } => format!("SyncRequest {id}"),
        Message::SyncReply { id, read_index } => format!("SyncReply {id} index {read_index}"),
        Message::PreVote { ballot, commit } => format!("PreVote {ballot} commit {commit}"),
        Message::PreVoteReply { ballot, granted, promised } => {
            format!("PreVoteReply {ballot} granted {granted} promised {promised}")
        }
    }
}
