//! The one-line text forms of actions, logs and servers that traces and
//! scenario scripts print.

use crate::Server;
use kraftwerk_specs::log::Log;
use kraftwerk_specs::node::{Action, HardState, Timer};
use kraftwerk_specs::types::NodeId;

/// A timer's script name: `election`, `heartbeat`, `fetch`, `check-quorum`.
pub fn timer_name(t: Timer) -> &'static str {
    match t {
        Timer::Election => "election",
        Timer::Heartbeat => "heartbeat",
        Timer::Fetch => "fetch",
        Timer::CheckQuorum => "check-quorum",
    }
}

/// Parses [`timer_name`].
pub fn parse_timer(s: &str) -> Option<Timer> {
    [
        Timer::Election,
        Timer::Heartbeat,
        Timer::Fetch,
        Timer::CheckQuorum,
    ]
    .into_iter()
    .find(|&t| timer_name(t) == s)
}

/// `[1/noop 1/c0#1]`.
pub fn log_text(log: &Log) -> String {
    let entries: Vec<String> = log.entries().iter().map(|e| e.to_string()).collect();
    format!("[{}]", entries.join(" "))
}

fn hard_text(h: &HardState) -> String {
    let mut s = format!("term {}", h.term);
    if let Some(v) = h.voted_for {
        s += &format!(" vote {v}");
    }
    if let Some(l) = h.leader {
        s += &format!(" leader {l}");
    }
    s
}

/// One action on one line: `persist term 2 vote n1`, `send n2
/// AppendEntries{...}`, `apply 1 1/noop`.
pub fn action_text(a: &Action) -> String {
    match a {
        Action::PersistHardState(h) => format!("persist {}", hard_text(h)),
        Action::TruncateLog { last } => format!("truncate after {last}"),
        Action::AppendLog(es) => {
            let es: Vec<String> = es.iter().map(|e| e.to_string()).collect();
            format!("append {}", es.join(" "))
        }
        Action::Send { to, msg } => format!("send {to} {msg}"),
        Action::SetTimer(t) => format!("set {}", timer_name(*t)),
        Action::CancelTimer(t) => format!("cancel {}", timer_name(*t)),
        Action::Apply { index, entry } => format!("apply {index} {entry}"),
        Action::Refuse { request, reason } => format!("refuse {request}: {reason}"),
        Action::Reply {
            request,
            index,
            term,
        } => format!("reply {request} at {index} in {term}"),
        Action::NotLeader { request, leader } => {
            let r = request.map_or("all".into(), |r| r.to_string());
            let l = leader.map_or("-".into(), |l| l.to_string());
            format!("not-leader {r} (leader {l})")
        }
    }
}

/// `n1 leader term 2 vote n1 log [1/noop 2/noop] commit 2 timers
/// heartbeat`; a server that is down says so, and a disk that differs
/// from memory is shown after `| disk`.
pub fn server_line(id: NodeId, s: &Server) -> String {
    let n = &s.node;
    if !s.up {
        return format!(
            "{id} down | disk {} log {}",
            hard_text(&s.disk.hard),
            log_text(&s.disk.log)
        );
    }
    let timers: Vec<&str> = s.timers.iter().map(|&t| timer_name(t)).collect();
    let mut line = format!(
        "{id} {} {} log {} {} {}",
        n.role_detail(),
        hard_text(&n.hard()),
        log_text(n.log()),
        n.kind().commit_word(),
        n.committed()
    );
    if s.disk != n.durable() {
        line += &format!(
            " | disk {} log {}",
            hard_text(&s.disk.hard),
            log_text(&s.disk.log)
        );
    }
    line += &format!(
        " timers {}",
        if timers.is_empty() {
            "-".into()
        } else {
            timers.join(" ")
        }
    );
    line
}
