//! Concurrent clients in the root namespace: each runs one operation at a
//! time on a few shared keys (put, get, cas, delete, with values unique to
//! the client and operation), under a deadline, and records the history;
//! each also writes write-once keys, to count acknowledged writes that
//! must survive everything.

use super::rng::Rng;
use crate::linearizability::{Op, Operation, Outcome, Ret};
use kraftwerk_impl::client::Client;
use kraftwerk_impl::kv::{Command, Outcome as KvOutcome};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shared keys.
pub const KEYS: [&str; 3] = ["r0", "r1", "r2"];

/// How long the client library retries one operation (across nodes).
/// Shorter than most faults, so that some operations end unknown.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(3);
/// The hard deadline of one operation: past it, its outcome is unknown.
pub const OP_DEADLINE: Duration = Duration::from_secs(4);

/// What one client did.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// Its operations on the shared keys.
    pub history: Vec<Operation>,
    /// Write-once keys whose put was acknowledged, with their values.
    pub once_acked: Vec<(String, String)>,
    /// Write-once puts with an unknown outcome.
    pub once_unknown: usize,
    /// Answers that no correct cluster gives (e.g. an undecodable command).
    pub errors: Vec<String>,
}

fn text(v: Option<Vec<u8>>) -> Option<String> {
    v.map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn micros(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

/// Runs `cmd` with the deadlines; `None` for an unknown outcome (the
/// client is then replaced: its request may still be in flight).
async fn run_one(
    client: &mut Client,
    cmd: Command,
) -> Result<Option<KvOutcome>, /* definitely failed */ String> {
    match tokio::time::timeout(OP_DEADLINE, client.run(cmd)).await {
        Ok(Ok(o)) => Ok(Some(o)),
        // Only a leader's refusal is final; everything else (timeouts,
        // lost connections, "not leader" until the deadline) may have
        // reached a leader's log.
        Ok(Err(e)) if e.starts_with("refused") => Err(e),
        Ok(Err(_)) | Err(_) => Ok(None),
    }
}

fn new_client(addrs: &[String], rotate: usize) -> Client {
    let mut addrs = addrs.to_vec();
    let len = addrs.len().max(1);
    addrs.rotate_left(rotate % len);
    let mut c = Client::new(addrs, 0);
    c.deadline = CLIENT_DEADLINE;
    c
}

/// One client's loop, until `stop`.
pub async fn client_loop(
    id: usize,
    addrs: Vec<String>,
    seed: u64,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> ClientLog {
    let mut rng = Rng::new(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut client = new_client(&addrs, id);
    let mut log = ClientLog::default();
    // The last value this client saw per key: what its cas expects.
    let mut seen: Vec<Option<String>> = vec![None; KEYS.len()];
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let fresh = format!("c{id}-{n}");
        if rng.chance(0.15) {
            let key = format!("once-c{id}-{n}");
            let cmd = Command::Put {
                key: key.clone().into_bytes(),
                value: fresh.clone().into_bytes(),
            };
            match run_one(&mut client, cmd).await {
                Ok(Some(KvOutcome::Done(None))) => log.once_acked.push((key, fresh)),
                Ok(Some(other)) => log.errors.push(format!(
                    "put of fresh key {key} answered {other:?} (expected no previous value)"
                )),
                Ok(None) => {
                    log.once_unknown += 1;
                    client = new_client(&addrs, id + n as usize);
                }
                Err(e) => log.errors.push(format!("put {key}: {e}")),
            }
            continue;
        }
        let k = rng.below(KEYS.len() as u64) as usize;
        let key = KEYS[k];
        let op = match rng.below(20) {
            0..=5 => Op::Put(fresh.clone()),
            6..=11 => Op::Get,
            12..=16 => Op::Cas {
                expected: seen[k].clone(),
                new: if rng.chance(0.9) { Some(fresh) } else { None },
            },
            _ => Op::Delete,
        };
        let kb = key.as_bytes().to_vec();
        let cmd = match &op {
            Op::Put(v) => Command::Put {
                key: kb,
                value: v.clone().into_bytes(),
            },
            Op::Get => Command::Get { key: kb },
            Op::Delete => Command::Delete { key: kb },
            Op::Cas { expected, new } => Command::Cas {
                key: kb,
                expected: expected.clone().map(String::into_bytes),
                new: new.clone().map(String::into_bytes),
            },
        };
        let invoke = micros(start);
        let res = run_one(&mut client, cmd).await;
        let complete = micros(start);
        let outcome = match res {
            Ok(Some(o)) => {
                let ret = match (o, &op) {
                    (KvOutcome::Done(p), Op::Put(_) | Op::Delete) => Ret::Done(text(p)),
                    (KvOutcome::Value(v), Op::Get) => Ret::Value(text(v)),
                    (KvOutcome::Cas { swapped, previous }, Op::Cas { .. }) => Ret::Cas {
                        swapped,
                        previous: text(previous),
                    },
                    (other, _) => {
                        log.errors
                            .push(format!("{op:?} on {key} answered {other:?}"));
                        continue;
                    }
                };
                seen[k] = match &ret {
                    Ret::Done(_) => match &op {
                        Op::Put(v) => Some(v.clone()),
                        _ => None,
                    },
                    Ret::Value(v) => v.clone(),
                    Ret::Cas { swapped, previous } => match (&op, swapped) {
                        (Op::Cas { new, .. }, true) => new.clone(),
                        _ => previous.clone(),
                    },
                };
                Outcome::Ok(ret)
            }
            Ok(None) => {
                client = new_client(&addrs, id + n as usize);
                Outcome::Unknown
            }
            Err(_) => Outcome::Fail,
        };
        log.history.push(Operation {
            client: id,
            key: key.to_string(),
            op,
            invoke,
            complete,
            outcome,
        });
        // A little think time keeps the history a manageable size.
        tokio::time::sleep(Duration::from_millis(rng.range(2, 20))).await;
    }
    log
}

/// Reads every acknowledged write-once key back; the keys whose value is
/// not the acknowledged one, with what was read.
pub async fn lost_writes(addrs: &[String], acked: &[(String, String)]) -> Vec<String> {
    let mut client = new_client(addrs, 0);
    client.deadline = Duration::from_secs(10);
    let mut lost = Vec::new();
    for (key, value) in acked {
        let got = client
            .run(Command::Get {
                key: key.clone().into_bytes(),
            })
            .await;
        match got {
            Ok(KvOutcome::Value(Some(v))) if v == value.as_bytes() => {}
            other => lost.push(format!("{key}: acknowledged {value:?}, read {other:?}")),
        }
    }
    lost
}
