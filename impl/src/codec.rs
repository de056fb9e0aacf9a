//! Length-prefixed frames over TCP, shared by the peer and client protocols.
//!
//! A frame is `len: u32 LE` (of what follows), then `version: u16 LE`,
//! `cluster: u64 LE`, and a bincode 1.x body. Frames above [`MAX_FRAME`] are
//! refused before anything is allocated.

use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The wire format version; a frame of another version is dropped.
pub const VERSION: u16 = 1;
/// The largest frame accepted or sent (16 MiB).
pub const MAX_FRAME: usize = 16 << 20;
const HEADER: usize = 2 + 8;

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

/// Encodes `body` as one frame (appended to `buf`).
pub fn encode<T: Serialize>(cluster: u64, body: &T, buf: &mut Vec<u8>) -> Result<(), String> {
    let bytes = bincode::serialize(body).map_err(|e| e.to_string())?;
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
    bincode::deserialize(&frame[HEADER..]).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Reads one frame.
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
    buf.resize(len, 0);
    r.read_exact(buf).await.map_err(FrameError::Io)?;
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
}
