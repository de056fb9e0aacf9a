//! Fuzzing of the frame codec with proptest: [`codec::decode`] and
//! [`codec::read_frame`] fed arbitrary bytes and mutated valid frames of
//! both protocols on the wire, [`PeerFrame`] and [`ClientMsg`].
//!
//! Each target runs 1,000,000 cases by default (`KRAFTWERK_FUZZ_CASES`
//! overrides it, e.g. for a night-long run). Every case checks that:
//!
//! - nothing panics, and decoding allocates nothing much larger than the
//!   input (a counting global allocator records the largest single request
//!   made while decoding; a length prefix or an element count that lies
//!   must not reserve what it claims);
//! - the outcome is the one an independent oracle predicts from the header
//!   bytes: short header, version, cluster id, then body;
//! - a body that decodes is the one encoding of its value (re-encoding
//!   gives back the same bytes), and every valid frame round-trips;
//! - `read_frame`, given the bytes at once or trickled in small pieces
//!   with waits between them, consumes exactly the frame after an error it
//!   calls recoverable, so that a valid frame behind it is read intact, and
//!   consumes only the prefix of an oversized frame.
//!
//! A smaller target (files are slow) damages a log file the same ways and
//! opens it: `Storage::open` never panics; it either recovers a prefix of
//! the entries written or fails with one line naming the log and an
//! offset; and damage only to the last record (a torn tail) always
//! recovers all the others.

use kraftwerk_impl::codec::{self, FrameError, MAX_FRAME, VERSION};
use kraftwerk_impl::kv::Command;
use kraftwerk_impl::proto::{ClientMsg, PeerFrame};
use kraftwerk_impl::storage::Storage;
use kraftwerk_specs::membership::VoterChange;
use kraftwerk_specs::message::*;
use kraftwerk_specs::quorum::{Majority, Quorum};
use kraftwerk_specs::types::{Entry, LogIndex, NodeId, Payload, RequestId, Term};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::{de::DeserializeOwned, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, ReadBuf};

/// What goes over the wire.
trait Wire: Serialize + DeserializeOwned + std::fmt::Debug {}
impl<T: Serialize + DeserializeOwned + std::fmt::Debug> Wire for T {}

/// The cluster id the reader expects.
const CLUSTER: u64 = 0x5eed_c0de;

// ---------------------------------------------------------------------------
// The largest single allocation, per thread.

struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|m| {
        if size > m.get() {
            m.set(size)
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping only touches a thread-local `Cell<usize>`, which neither
// allocates nor needs a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the largest single allocation it
/// made on this thread.
fn largest_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|m| m.set(0));
    let r = f();
    (r, LARGEST.with(|m| m.get()))
}

/// What decoding `len` input bytes may allocate at once: serde reserves at
/// most 1 MiB for a sequence whatever its claimed length, and a decoded
/// value takes a bounded multiple of its encoding.
fn alloc_bound(len: usize) -> usize {
    (1 << 20) + 32 * len + 4096
}

// ---------------------------------------------------------------------------
// Helpers.

/// Polls a future to its end; its reader never waits for long (it wakes
/// itself).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    for _ in 0..10_000_000 {
        if let Poll::Ready(x) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return x;
        }
    }
    panic!("the future never finished");
}

/// A reader over bytes that delivers at most `chunk` of them per read and
/// is not ready every other time, the way a socket trickles.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
    wait: bool,
}

impl Trickle<'_> {
    fn new(data: &[u8], chunk: usize) -> Trickle<'_> {
        Trickle {
            data,
            chunk,
            wait: false,
        }
    }
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        if me.wait {
            me.wait = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        me.wait = me.chunk != usize::MAX;
        let n = me.chunk.min(me.data.len()).min(buf.remaining());
        buf.put_slice(&me.data[..n]);
        me.data = &me.data[n..];
        Poll::Ready(Ok(()))
    }
}

/// How a reader gets the bytes: all at once or in small pieces.
fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![Just(usize::MAX), 1usize..24]
}

fn frame_of<T: Serialize>(cluster: u64, body: &T) -> Vec<u8> {
    let mut buf = Vec::new();
    codec::encode(cluster, body, &mut buf).expect("encodes");
    buf
}

/// The kind of a decoding outcome, for comparing two of them.
#[derive(Debug, PartialEq)]
enum Kind {
    Ok(Vec<u8>),
    Io,
    Oversized(usize),
    Version(u16),
    Cluster(u64),
    Malformed,
}

fn kind<T: Serialize>(r: &Result<T, FrameError>) -> Kind {
    match r {
        Ok(v) => Kind::Ok(frame_of(CLUSTER, v)),
        Err(FrameError::Io(_)) => Kind::Io,
        Err(FrameError::Oversized(n)) => Kind::Oversized(*n),
        Err(FrameError::Version(v)) => Kind::Version(*v),
        Err(FrameError::Cluster(c)) => Kind::Cluster(*c),
        Err(FrameError::Malformed(_)) => Kind::Malformed,
    }
}

/// Checks `decode` on one frame body (the bytes after the length prefix)
/// against the header oracle; returns the outcome's kind.
fn check_decode<T: Wire>(body: &[u8]) -> Result<Kind, TestCaseError> {
    let (r, largest) = largest_during(|| codec::decode::<T>(CLUSTER, body));
    prop_assert!(
        largest <= alloc_bound(body.len()),
        "decoding {} bytes allocated {largest} at once",
        body.len()
    );
    let k = kind(&r);
    if body.len() < 10 {
        prop_assert_eq!(&k, &Kind::Malformed);
    } else if u16::from_le_bytes([body[0], body[1]]) != VERSION {
        prop_assert_eq!(&k, &Kind::Version(u16::from_le_bytes([body[0], body[1]])));
    } else {
        let cluster = u64::from_le_bytes(body[2..10].try_into().unwrap());
        if cluster != CLUSTER {
            prop_assert_eq!(&k, &Kind::Cluster(cluster));
        }
    }
    match (&r, &k) {
        (Ok(_), Kind::Ok(again)) => {
            // The one encoding of its value: nothing trailing, no
            // non-canonical byte accepted.
            prop_assert_eq!(&again[4..], body, "decoded body is not canonical");
        }
        (Err(e), _) => prop_assert!(e.recoverable(), "decode error {e} not recoverable"),
        _ => unreachable!(),
    }
    Ok(k)
}

/// Reads one frame from `bytes` followed by a valid sentinel frame, and
/// checks the outcome, what was consumed, and that the stream resyncs.
fn check_read<T: Wire>(bytes: &[u8], sentinel: &T, chunk: usize) -> Result<(), TestCaseError> {
    let tail = frame_of(CLUSTER, sentinel);
    let stream = [bytes, &tail].concat();
    let mut rd = Trickle::new(&stream, chunk);
    let mut buf = Vec::new();
    let (r, largest) =
        largest_during(|| now(codec::read_frame::<_, T>(&mut rd, CLUSTER, &mut buf)));
    prop_assert!(
        largest <= alloc_bound(stream.len()),
        "reading {} bytes allocated {largest} at once",
        stream.len()
    );
    let consumed = stream.len() - rd.data.len();
    let k = kind(&r);
    if stream.len() < 4 {
        prop_assert_eq!(k, Kind::Io);
        return Ok(());
    }
    let len = u32::from_le_bytes(stream[..4].try_into().unwrap()) as usize;
    if len > MAX_FRAME {
        prop_assert_eq!(k, Kind::Oversized(len));
        prop_assert_eq!(consumed, 4, "an oversized frame is refused from its prefix");
        prop_assert!(!r.unwrap_err().recoverable());
        return Ok(());
    }
    if stream.len() - 4 < len {
        prop_assert_eq!(k, Kind::Io);
        prop_assert!(!r.unwrap_err().recoverable());
        return Ok(());
    }
    // A whole frame: the same outcome as decoding it, all of it consumed.
    prop_assert_eq!(consumed, 4 + len);
    let expected = check_decode::<T>(&stream[4..4 + len])?;
    prop_assert_eq!(&k, &expected);
    if let Err(e) = &r {
        prop_assert!(e.recoverable(), "{e} after a whole frame");
    }
    if 4 + len == bytes.len() {
        // The frame ended where `bytes` did: the sentinel comes next.
        let next = now(codec::read_frame::<_, T>(&mut rd, CLUSTER, &mut buf));
        prop_assert_eq!(kind(&next), Kind::Ok(tail));
        prop_assert!(rd.data.is_empty());
    }
    Ok(())
}

/// Checks a valid value: it round-trips, its frame under another cluster id
/// is refused as such (recoverably), and the frame reads back.
fn check_valid<T: Wire>(
    value: &T,
    other_cluster: u64,
    chunk: usize,
) -> Result<Vec<u8>, TestCaseError> {
    let frame = frame_of(CLUSTER, value);
    prop_assert_eq!(
        u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize,
        frame.len() - 4
    );
    prop_assert_eq!(&frame[14..], &bincode::serialize(value).unwrap()[..]);
    let back = codec::decode::<T>(CLUSTER, &frame[4..]);
    prop_assert_eq!(kind(&back), Kind::Ok(frame.clone()), "round trip");
    if other_cluster != CLUSTER {
        let other = frame_of(other_cluster, value);
        let r = codec::decode::<T>(CLUSTER, &other[4..]);
        prop_assert!(matches!(r, Err(FrameError::Cluster(c)) if c == other_cluster));
        prop_assert!(r.unwrap_err().recoverable());
        check_read::<T>(&other, value, chunk)?;
    }
    check_read::<T>(&frame, value, chunk)?;
    Ok(frame)
}

// ---------------------------------------------------------------------------
// Strategies: every variant of every message on the wire.

fn node() -> impl Strategy<Value = NodeId> {
    prop_oneof![0u32..6, any::<u32>()].prop_map(NodeId)
}

fn term() -> impl Strategy<Value = Term> {
    prop_oneof![0u64..10, any::<u64>()].prop_map(Term)
}

fn index() -> impl Strategy<Value = LogIndex> {
    prop_oneof![0u64..10, any::<u64>()].prop_map(LogIndex)
}

fn request() -> impl Strategy<Value = RequestId> {
    (any::<u64>(), any::<u64>()).prop_map(|(client, seq)| RequestId { client, seq })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..12)
}

fn majority() -> impl Strategy<Value = Majority> {
    prop::collection::vec(node(), 0..4).prop_map(Majority::new)
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    let payload = prop_oneof![
        (request(), bytes()).prop_map(|(request, data)| Payload::Command { request, data }),
        Just(Payload::Noop),
        (request(), majority()).prop_map(|(request, m)| Payload::Config {
            request,
            quorum: Quorum::Simple(m)
        }),
        (request(), majority(), majority()).prop_map(|(request, old, new)| Payload::Config {
            request,
            quorum: Quorum::Joint { old, new }
        }),
    ];
    prop::collection::vec(
        (term(), payload).prop_map(|(term, payload)| Entry { term, payload }),
        0..3,
    )
}

fn changes() -> impl Strategy<Value = Vec<VoterChange>> {
    prop::collection::vec(
        prop_oneof![
            node().prop_map(VoterChange::Add),
            node().prop_map(VoterChange::Remove)
        ],
        0..3,
    )
}

fn message() -> impl Strategy<Value = Message> {
    let fetch_error = prop::option::of(prop_oneof![
        Just(FetchError::Fenced),
        Just(FetchError::NotLeader)
    ]);
    let diverging = prop::option::of(
        (term(), index()).prop_map(|(epoch, end_offset)| DivergingEpoch { epoch, end_offset }),
    );
    prop_oneof![
        (term(), index(), term()).prop_map(|(term, last_log_index, last_log_term)| {
            Message::RequestVote(RequestVote {
                term,
                last_log_index,
                last_log_term,
            })
        }),
        (term(), any::<bool>())
            .prop_map(|(term, granted)| Message::VoteResponse(VoteResponse { term, granted })),
        (term(), index(), term(), entries(), index()).prop_map(
            |(term, prev_log_index, prev_log_term, entries, leader_commit)| {
                Message::AppendEntries(AppendEntries {
                    term,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                })
            }
        ),
        (term(), any::<bool>(), index()).prop_map(|(term, success, match_index)| {
            Message::AppendResponse(AppendResponse {
                term,
                success,
                match_index,
            })
        }),
        (request(), bytes())
            .prop_map(|(request, data)| Message::ClientRequest(ClientRequest { request, data })),
        (request(), index(), term()).prop_map(|(request, index, term)| {
            Message::ClientReply(ClientReply {
                request,
                index,
                term,
            })
        }),
        (term(), term(), index(), any::<bool>()).prop_map(
            |(epoch, last_epoch, last_offset, pre_vote)| {
                Message::KraftVote(KraftVote {
                    epoch,
                    last_epoch,
                    last_offset,
                    pre_vote,
                })
            }
        ),
        (
            term(),
            prop::option::of(node()),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(epoch, leader, granted, pre_vote)| {
                Message::KraftVoteResponse(KraftVoteResponse {
                    epoch,
                    leader,
                    granted,
                    pre_vote,
                })
            }),
        term().prop_map(|epoch| Message::BeginQuorumEpoch(BeginQuorumEpoch { epoch })),
        (
            term(),
            prop::collection::vec(prop::collection::btree_set(node(), 1..3), 0..3)
        )
            .prop_map(|(epoch, preferred_successors)| {
                Message::EndQuorumEpoch(EndQuorumEpoch {
                    epoch,
                    preferred_successors,
                })
            }),
        (index(), term(), term()).prop_map(
            |(fetch_offset, last_fetched_epoch, current_leader_epoch)| {
                Message::Fetch(Fetch {
                    fetch_offset,
                    last_fetched_epoch,
                    current_leader_epoch,
                })
            }
        ),
        (
            (term(), prop::option::of(node()), fetch_error),
            (index(), term(), entries()),
            (prop::option::of(index()), diverging)
        )
            .prop_map(
                |(
                    (epoch, leader, error),
                    (fetch_offset, last_fetched_epoch, records),
                    (high_watermark, diverging),
                )| {
                    Message::FetchResponse(FetchResponse {
                        epoch,
                        leader,
                        error,
                        fetch_offset,
                        last_fetched_epoch,
                        records,
                        high_watermark,
                        diverging,
                    })
                }
            ),
        (request(), changes()).prop_map(|(request, changes)| {
            Message::MembershipRequest(MembershipRequest { request, changes })
        }),
    ]
}

fn peer_frame() -> impl Strategy<Value = PeerFrame> {
    (node(), message()).prop_map(|(from, msg)| PeerFrame { from: from.0, msg })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    let key = bytes;
    let cmd = prop_oneof![
        (key(), bytes()).prop_map(|(key, value)| Command::Put { key, value }),
        key().prop_map(|key| Command::Get { key }),
        key().prop_map(|key| Command::Delete { key }),
        (key(), prop::option::of(bytes()), prop::option::of(bytes()))
            .prop_map(|(key, expected, new)| Command::Cas { key, expected, new }),
    ];
    prop_oneof![
        (request(), cmd).prop_map(|(request, cmd)| ClientMsg::Command { request, cmd }),
        Just(ClientMsg::Status),
        (request(), changes())
            .prop_map(|(request, changes)| ClientMsg::ChangeMembership { request, changes }),
    ]
}

/// Arbitrary bytes, often behind a correct header or length prefix so that
/// the body decoder, not only the header check, sees them.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let raw = prop::collection::vec(any::<u8>(), 0..64);
    (0u8..4, raw).prop_map(|(shape, raw)| {
        let header = [&VERSION.to_le_bytes()[..], &CLUSTER.to_le_bytes()].concat();
        if shape == 0 {
            return raw;
        }
        let body = [&header[..], &raw].concat();
        let len = (body.len() as u32).to_le_bytes();
        [&len[..], &body].concat()
    })
}

/// One change to a valid frame.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    /// Replace the length prefix.
    Prefix(u32),
    /// Add to the length prefix.
    PrefixDelta(i8),
    /// Write a huge u64 at some offset: an element count that lies.
    Count(usize, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (at, any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        2 => at.prop_map(Mutation::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Extend),
        1 => (at, prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (at, 1usize..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => prop_oneof![
            any::<u32>(),
            Just(u32::MAX),
            Just(MAX_FRAME as u32),
            Just(MAX_FRAME as u32 + 1)
        ]
        .prop_map(Mutation::Prefix),
        1 => any::<i8>().prop_map(Mutation::PrefixDelta),
        2 => (
            at,
            prop_oneof![
                Just(1u64 << 60),
                Just(u64::MAX),
                Just(1u64 << 32),
                Just(MAX_FRAME as u64),
                any::<u64>()
            ]
        )
            .prop_map(|(i, n)| Mutation::Count(i, n)),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    let n = frame.len();
    match m {
        Mutation::FlipBit(i, b) if n > 0 => frame[i % n] ^= 1 << b,
        Mutation::SetByte(i, b) if n > 0 => frame[i % n] = *b,
        Mutation::Truncate(i) => frame.truncate(i % (n + 1)),
        Mutation::Extend(b) => frame.extend_from_slice(b),
        Mutation::Insert(i, b) => {
            let at = i % (n + 1);
            frame.splice(at..at, b.iter().copied());
        }
        Mutation::Remove(i, k) if n > 0 => {
            let at = i % n;
            frame.drain(at..(at + k).min(n));
        }
        Mutation::Prefix(p) if n >= 4 => frame[..4].copy_from_slice(&p.to_le_bytes()),
        Mutation::PrefixDelta(d) if n >= 4 => {
            let p = u32::from_le_bytes(frame[..4].try_into().unwrap());
            frame[..4].copy_from_slice(&p.wrapping_add(*d as i32 as u32).to_le_bytes());
        }
        Mutation::Count(i, c) if n >= 8 => {
            let at = i % (n - 7);
            frame[at..at + 8].copy_from_slice(&c.to_le_bytes());
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// The targets.

fn cases() -> u32 {
    std::env::var("KRAFTWERK_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let ran = Cell::new(0u32);
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(ran.get() >= cases(), "{} cases run", ran.get());
    println!("{} cases", ran.get());
}

fn other_cluster() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(CLUSTER + 1), any::<u64>()]
}

#[test]
fn peer_frames_arbitrary_bytes() {
    run((garbage(), chunk()), |(bytes, chunk)| {
        if bytes.len() >= 4 {
            check_decode::<PeerFrame>(&bytes[4..])?;
        }
        check_decode::<PeerFrame>(&bytes)?;
        let sentinel = PeerFrame {
            from: 1,
            msg: Message::BeginQuorumEpoch(BeginQuorumEpoch { epoch: Term(7) }),
        };
        check_read::<PeerFrame>(&bytes, &sentinel, chunk)
    });
}

#[test]
fn client_msgs_arbitrary_bytes() {
    run((garbage(), chunk()), |(bytes, chunk)| {
        if bytes.len() >= 4 {
            check_decode::<ClientMsg>(&bytes[4..])?;
        }
        check_decode::<ClientMsg>(&bytes)?;
        check_read::<ClientMsg>(&bytes, &ClientMsg::Status, chunk)
    });
}

#[test]
fn peer_frames_mutated() {
    let muts = prop::collection::vec(mutation(), 1..4);
    run(
        (peer_frame(), other_cluster(), muts, chunk()),
        |(value, other, muts, chunk)| {
            let mut frame = check_valid(&value, other, chunk)?;
            for m in &muts {
                apply(&mut frame, m);
            }
            if frame.len() >= 4 {
                check_decode::<PeerFrame>(&frame[4..])?;
            }
            check_read::<PeerFrame>(&frame, &value, chunk)
        },
    );
}

#[test]
fn client_msgs_mutated() {
    let muts = prop::collection::vec(mutation(), 1..4);
    run(
        (client_msg(), other_cluster(), muts, chunk()),
        |(value, other, muts, chunk)| {
            let mut frame = check_valid(&value, other, chunk)?;
            for m in &muts {
                apply(&mut frame, m);
            }
            if frame.len() >= 4 {
                check_decode::<ClientMsg>(&frame[4..])?;
            }
            check_read::<ClientMsg>(&frame, &value, chunk)
        },
    );
}

/// Every offset of frames with every kind of sequence, overwritten with
/// element counts that lie: nothing reserves what they claim.
#[test]
fn lying_counts_at_every_offset() {
    let entry = |payload| Entry {
        term: Term(3),
        payload,
    };
    let entries = vec![
        entry(Payload::Command {
            request: RequestId { client: 1, seq: 2 },
            data: b"abc".to_vec(),
        }),
        entry(Payload::Config {
            request: RequestId { client: 1, seq: 3 },
            quorum: Quorum::Joint {
                old: Majority::new([NodeId(1), NodeId(2)]),
                new: Majority::new([NodeId(3)]),
            },
        }),
        entry(Payload::Noop),
    ];
    let peers = [
        Message::AppendEntries(AppendEntries {
            term: Term(3),
            prev_log_index: LogIndex(1),
            prev_log_term: Term(1),
            entries: entries.clone(),
            leader_commit: LogIndex(1),
        }),
        Message::FetchResponse(FetchResponse {
            epoch: Term(3),
            leader: Some(NodeId(1)),
            error: None,
            fetch_offset: LogIndex(0),
            last_fetched_epoch: Term(0),
            records: entries,
            high_watermark: Some(LogIndex(2)),
            diverging: None,
        }),
        Message::EndQuorumEpoch(EndQuorumEpoch {
            epoch: Term(2),
            preferred_successors: vec![
                BTreeSet::from([NodeId(2), NodeId(3)]),
                BTreeSet::from([NodeId(1)]),
            ],
        }),
    ];
    let clients = [
        ClientMsg::Command {
            request: RequestId { client: 9, seq: 1 },
            cmd: Command::Cas {
                key: b"k".to_vec(),
                expected: Some(b"old".to_vec()),
                new: Some(b"new".to_vec()),
            },
        },
        ClientMsg::ChangeMembership {
            request: RequestId { client: 9, seq: 2 },
            changes: vec![VoterChange::Add(NodeId(4)), VoterChange::Remove(NodeId(1))],
        },
    ];
    let counts = [1u64 << 60, u64::MAX, 1 << 32, MAX_FRAME as u64, 1 << 20];
    let mut tried = 0;
    let mut check = |frame: Vec<u8>, decode: &dyn Fn(&[u8]) -> Result<Kind, TestCaseError>| {
        for at in 14..frame.len() - 7 {
            for c in counts {
                let mut f = frame.clone();
                f[at..at + 8].copy_from_slice(&c.to_le_bytes());
                decode(&f[4..]).unwrap();
                tried += 1;
            }
        }
    };
    for msg in peers {
        check(frame_of(CLUSTER, &PeerFrame { from: 1, msg }), &|b| {
            check_decode::<PeerFrame>(b)
        });
    }
    for m in clients {
        check(frame_of(CLUSTER, &m), &|b| check_decode::<ClientMsg>(b));
    }
    assert!(tried > 1000, "{tried} frames tried");
}

/// A length prefix promising the largest frame, then a few bytes: reading
/// holds what arrived (plus at most 8 KiB reserved ahead), not what was
/// promised.
#[test]
fn a_lying_length_prefix_reserves_nothing() {
    for len in [MAX_FRAME as u32, MAX_FRAME as u32 / 2, 1 << 20] {
        let bytes = [
            &len.to_le_bytes()[..],
            &VERSION.to_le_bytes(),
            &CLUSTER.to_le_bytes(),
            &[7; 10],
        ]
        .concat();
        let mut rd = Trickle::new(&bytes, 3);
        let mut buf = Vec::new();
        let (r, largest) = largest_during(|| {
            now(codec::read_frame::<_, ClientMsg>(
                &mut rd, CLUSTER, &mut buf,
            ))
        });
        assert!(matches!(r, Err(FrameError::Io(_))), "{r:?}");
        assert!(
            largest <= 8 << 10,
            "allocated {largest} for {} bytes",
            bytes.len()
        );
    }
}

/// Where `m` changes a buffer of `n` bytes: nothing before it is touched.
fn first_touched(m: &Mutation, n: usize) -> usize {
    match m {
        Mutation::FlipBit(i, _) | Mutation::SetByte(i, _) | Mutation::Remove(i, _) if n > 0 => {
            i % n
        }
        Mutation::Truncate(i) | Mutation::Insert(i, _) => i % (n + 1),
        Mutation::Extend(_) => n,
        Mutation::Prefix(_) | Mutation::PrefixDelta(_) if n >= 4 => 0,
        Mutation::Count(i, _) if n >= 8 => i % (n - 7),
        _ => usize::MAX,
    }
}

#[test]
fn storage_open_over_damaged_logs() {
    let cases = (cases() / 100).max(100);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let muts = prop::collection::vec(mutation(), 1..3);
    // In memory where there is a tmpfs: fsync is what makes files slow.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    let ran = Cell::new(0u32);
    let result = TestRunner::new(config).run(&(entries(), entries(), muts), |(a, b, muts)| {
        ran.set(ran.get() + 1);
        let mut written: Vec<Entry> = a.into_iter().chain(b).collect();
        if written.is_empty() {
            written.push(Entry {
                term: Term(1),
                payload: Payload::Noop,
            });
        }
        let data = dir.path().join(ran.get().to_string());
        let (mut s, _) = Storage::open(&data).unwrap();
        s.append(&written).unwrap();
        s.sync().unwrap();
        drop(s);
        let path = Storage::log_path(&data);
        let mut bytes = std::fs::read(&path).unwrap();
        // Where the last record starts: the records are written in order.
        let mut last = 0;
        let mut at = 0;
        while at < bytes.len() {
            last = at;
            at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        }
        // Damage a crash could do to the tail: changes in place, cuts and
        // extensions at or after the last record (an insertion can shift
        // a whole good record behind garbage: no crash does that).
        let mut tail_only = true;
        for m in &muts {
            tail_only &=
                first_touched(m, bytes.len()) >= last && !matches!(m, Mutation::Insert(..));
            apply(&mut bytes, m);
        }
        std::fs::write(&path, &bytes).unwrap();
        match Storage::open(&data) {
            Ok((_, r)) => {
                prop_assert!(r.entries.len() <= written.len());
                prop_assert_eq!(&r.entries[..], &written[..r.entries.len()]);
                if tail_only {
                    prop_assert!(
                        r.entries.len() + 1 >= written.len(),
                        "tail damage lost more"
                    );
                }
            }
            Err(e) => {
                prop_assert!(!tail_only, "tail damage refused: {e}");
                prop_assert_eq!(e.lines().count(), 1, "{}", e);
                prop_assert!(e.contains(&path.display().to_string()), "{}", e);
                prop_assert!(e.contains("at offset"), "{}", e);
            }
        }
        let _ = std::fs::remove_dir_all(&data);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    println!("{} cases", ran.get());
}
