//! The contracts of an action list (`kraftwerk_specs::node`'s emission
//! contract), checked as a driver carries the actions out: what a message
//! claims is already on the sender's disk; entries are applied once, in
//! order, only when committed, and the same on every server; a reply names
//! a committed entry of the replying leader's own term.

use crate::{Check, Server};
use kraftwerk_specs::message::Message;
use kraftwerk_specs::node::Durable;
use kraftwerk_specs::types::{Entry, LogIndex, NodeId, RequestId, Term};
use std::collections::BTreeMap;

/// What `msg`, sent by `me` to `to`, claims must already be on `me`'s
/// disk `d`: its term (KRaft: epoch), a vote it asks for or grants, the
/// log entries it describes or carries.
pub fn durable_before_send(me: NodeId, d: &Durable, to: NodeId, msg: &Message) -> Check {
    if let Some(term) = msg.term() {
        if d.hard.term != term {
            return Err(format!("term {term} not persisted ({})", d.hard.term));
        }
    }
    let on_disk = |from: LogIndex, entries: &[Entry]| -> Check {
        for (k, e) in entries.iter().enumerate() {
            let at = from.plus(k + 1);
            if d.log.get(at) != Some(e) {
                return Err(format!("entry {at} ({e}) not on disk"));
            }
        }
        Ok(())
    };
    match msg {
        Message::RequestVote(m) => {
            if d.hard.voted_for != Some(me) {
                return Err("self-vote not persisted".into());
            }
            if m.last_log_index != d.log.last_index() || m.last_log_term != d.log.last_term() {
                return Err("claims a log that is not on disk".into());
            }
        }
        Message::VoteResponse(m) if m.granted && d.hard.voted_for != Some(to) => {
            return Err("grants a vote that is not persisted".into());
        }
        Message::AppendEntries(m) => {
            if d.log.term_at(m.prev_log_index) != Some(m.prev_log_term) {
                return Err("prev entry not on disk".into());
            }
            on_disk(m.prev_log_index, &m.entries)?;
        }
        Message::AppendResponse(m) if m.success && m.match_index > d.log.last_index() => {
            return Err("acknowledges entries that are not on disk".into());
        }
        Message::KraftVote(m) if !m.pre_vote => {
            if d.hard.voted_for != Some(me) {
                return Err("self-vote not persisted".into());
            }
            if m.last_offset != d.log.last_index() || m.last_epoch != d.log.last_term() {
                return Err("claims a log that is not on disk".into());
            }
        }
        Message::KraftVoteResponse(m)
            if m.granted && !m.pre_vote && d.hard.voted_for != Some(to) =>
        {
            return Err("grants a vote that is not persisted".into());
        }
        Message::Fetch(m) => {
            if m.fetch_offset > d.log.last_index() {
                return Err("fetches from an offset past its disk".into());
            }
            if d.log.term_at(m.fetch_offset) != Some(m.last_fetched_epoch) {
                return Err("claims a last fetched epoch that is not on disk".into());
            }
        }
        Message::FetchResponse(m) if m.error.is_none() && m.diverging.is_none() => {
            on_disk(m.fetch_offset, &m.records)?;
        }
        _ => {}
    }
    Ok(())
}

/// `me` applies `entry` at `index`: the entry after the last one it
/// applied in this life, committed, in its log, and the entry every server
/// applied at `index` (`applied` holds those of all servers and lives).
pub fn check_apply(
    me: NodeId,
    s: &Server,
    applied: &mut BTreeMap<LogIndex, Entry>,
    index: LogIndex,
    entry: &Entry,
) -> Check {
    if index != s.applied.next() {
        return Err(format!("{me} applies {index} after {}", s.applied));
    }
    if index > s.node.committed() || s.node.log().get(index) != Some(entry) {
        return Err(format!("{me} applies {entry} at {index}, not committed"));
    }
    let first = applied.entry(index).or_insert_with(|| entry.clone());
    if first != entry {
        return Err(format!("{me} applies {entry} at {index}, others {first}"));
    }
    Ok(())
}

/// `me` replies that `request` committed at `index` in `term`: it leads
/// `term` (or led it when the step began: a leader that removed itself
/// replies, then resigns), the entry at `index` carries `request`, and it
/// is committed.
pub fn check_reply(
    me: NodeId,
    s: &Server,
    led: bool,
    request: RequestId,
    index: LogIndex,
    term: Term,
) -> Check {
    let n = &s.node;
    let held = n.log().get(index).and_then(|e| e.request()) == Some(request);
    let leads = (led || n.is_leader()) && term == n.hard().term;
    if !(leads && held && index <= n.committed()) {
        return Err(format!(
            "{me} replies {request} at {index} in {term} (leads {leads}, holds it {held}, \
             committed {})",
            n.committed()
        ));
    }
    Ok(())
}
