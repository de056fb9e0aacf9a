//! Length-prefixed frames over TCP, shared by the peer and client protocols.
//!
//! A frame is `len: u32 LE` (of what follows), then `version: u16 LE`,
//! `cluster: u64 LE`, and a bincode 1.x body (fixed-width integers, the
//! encoding of `bincode::serialize`). Frames above [`MAX_FRAME`] are refused
//! from their length prefix alone.
//!
//! Nothing a peer sends makes the reader allocate much more than it has
//! actually received: the body is read as it arrives rather than into a
//! buffer sized by the prefix (a connection that promises 16 MiB and sends
//! ten bytes holds ten bytes); the body is decoded from that slice under a
//! byte limit, so a count inside it claiming 2^60 elements fails at the end
//! of the slice, having reserved at most serde's 1 MiB cap for a sequence
//! of unknown honesty (`impl/tests/fuzz.rs` measures both). A body must be
//! used up exactly:
//! trailing bytes make a frame malformed, so every accepted frame is the
//! one encoding of its value.

use bincode::Options;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The wire format version; a frame of another version is dropped. 2:
/// EndQuorumEpoch's preferred successors are ranks of tied voters.
pub const VERSION: u16 = 2;
/// The largest frame accepted or sent (16 MiB).
pub const MAX_FRAME: usize = 16 << 20;
const HEADER: usize = 2 + 8;
/// What a reader reserves ahead of the bytes received, at most.
const RESERVE_MAX: usize = 8 << 10;
/// A reader's buffer above this size is released when much smaller frames
/// follow.
const KEEP_MAX: usize = 64 << 10;

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The connection failed or closed.
    Io(std::io::Error),
    /// The length prefix exceeds [`MAX_FRAME`] (the stream cannot be resynced).
    Oversized(usize),
    /// Another format version.
    Version(u16),
    /// Another cluster id.
    Cluster(u64),
    /// The body does not decode.
    Malformed(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "io: {e}"),
            FrameError::Oversized(n) => write!(f, "oversized frame of {n} bytes"),
            FrameError::Version(v) => write!(f, "frame of format version {v}, expected {VERSION}"),
            FrameError::Cluster(c) => write!(f, "frame of cluster id {c}"),
            FrameError::Malformed(e) => write!(f, "malformed frame: {e}"),
        }
    }
}

impl FrameError {
    /// True when the stream is still in sync after this error (the whole
    /// frame was consumed), so that the reader may go on.
    pub fn recoverable(&self) -> bool {
        matches!(
            self,
            FrameError::Version(_) | FrameError::Cluster(_) | FrameError::Malformed(_)
        )
    }
}

/// The bincode options of every body, for encoding and decoding alike:
/// `bincode::serialize`'s format (fixed-width little-endian integers), at
/// most [`MAX_FRAME`] bytes, no trailing bytes.
fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(MAX_FRAME as u64)
        .reject_trailing_bytes()
}

/// Encodes `body` as one frame (appended to `buf`).
pub fn encode<T: Serialize>(cluster: u64, body: &T, buf: &mut Vec<u8>) -> Result<(), String> {
    let bytes = options().serialize(body).map_err(|e| e.to_string())?;
    let len = HEADER + bytes.len();
    if len > MAX_FRAME {
        return Err(format!("frame of {len} bytes exceeds {MAX_FRAME}"));
    }
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&VERSION.to_le_bytes());
    buf.extend_from_slice(&cluster.to_le_bytes());
    buf.extend_from_slice(&bytes);
    Ok(())
}

/// Decodes one frame body (everything after the length prefix).
pub fn decode<T: DeserializeOwned>(cluster: u64, frame: &[u8]) -> Result<T, FrameError> {
    if frame.len() < HEADER {
        return Err(FrameError::Malformed("short header".into()));
    }
    let version = u16::from_le_bytes([frame[0], frame[1]]);
    if version != VERSION {
        return Err(FrameError::Version(version));
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&frame[2..10]);
    let got = u64::from_le_bytes(c);
    if got != cluster {
        return Err(FrameError::Cluster(got));
    }
    options()
        .deserialize(&frame[HEADER..])
        .map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Reads one frame. `buf` is scratch space reused between calls; it grows
/// with the bytes received, not with the length prefix.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    cluster: u64,
    buf: &mut Vec<u8>,
) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(FrameError::Io)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::Oversized(len));
    }
    buf.clear();
    if buf.capacity() > KEEP_MAX.max(2 * len) {
        // Do not keep a large buffer alive for a connection's later,
        // much smaller frames.
        *buf = Vec::new();
    }
    // Room for a small frame at once; a large one grows as it arrives.
    buf.reserve(len.min(RESERVE_MAX));
    let got = (&mut *r)
        .take(len as u64)
        .read_to_end(buf)
        .await
        .map_err(FrameError::Io)?;
    if got < len {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    decode(cluster, buf)
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    cluster: u64,
    body: &T,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    encode(cluster, body, &mut buf).map_err(std::io::Error::other)?;
    w.write_all(&buf).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let mut buf = Vec::new();
        encode(7, &(1u32, "x".to_string()), &mut buf).unwrap();
        let body = &buf[4..];
        assert_eq!(decode::<(u32, String)>(7, body).unwrap(), (1, "x".into()));
        assert!(matches!(
            decode::<(u32, String)>(8, body),
            Err(FrameError::Cluster(7))
        ));
        assert!(matches!(
            decode::<(u32, String)>(7, &body[..12]),
            Err(FrameError::Malformed(_))
        ));
        let mut bad = body.to_vec();
        bad[0] = 9;
        assert!(matches!(
            decode::<(u32, String)>(7, &bad),
            Err(FrameError::Version(9))
        ));
    }

    #[test]
    fn body_is_bincode_serialize_and_nothing_may_trail() {
        let value = (1u32, "x".to_string(), vec![2u64, 3], Some(true));
        let mut buf = Vec::new();
        encode(7, &value, &mut buf).unwrap();
        assert_eq!(&buf[4 + HEADER..], &bincode::serialize(&value).unwrap()[..]);
        let mut longer = buf[4..].to_vec();
        longer.push(0);
        assert!(matches!(
            decode::<(u32, String, Vec<u64>, Option<bool>)>(7, &longer),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn a_count_of_2_to_the_60_fails_at_the_end_of_the_body() {
        let mut buf = Vec::new();
        encode(7, &vec![1u64, 2, 3], &mut buf).unwrap();
        buf[4 + HEADER..4 + HEADER + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(
            decode::<Vec<u64>>(7, &buf[4..]),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn read_frame_resyncs_after_a_recoverable_error() {
        let mut stream = Vec::new();
        encode(8, &5u32, &mut stream).unwrap();
        encode(7, &6u32, &mut stream).unwrap();
        stream.extend_from_slice(&(MAX_FRAME as u32 + 1).to_le_bytes());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut r: &[u8] = &stream;
            let mut buf = Vec::new();
            let e = read_frame::<_, u32>(&mut r, 7, &mut buf).await.unwrap_err();
            assert!(matches!(e, FrameError::Cluster(8)) && e.recoverable());
            assert_eq!(read_frame::<_, u32>(&mut r, 7, &mut buf).await.unwrap(), 6);
            let e = read_frame::<_, u32>(&mut r, 7, &mut buf).await.unwrap_err();
            assert!(matches!(e, FrameError::Oversized(_)) && !e.recoverable());
            let e = read_frame::<_, u32>(&mut r, 7, &mut buf).await.unwrap_err();
            assert!(matches!(e, FrameError::Io(_)) && !e.recoverable());
        });
    }
}
