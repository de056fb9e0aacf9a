//! A minimal gRPC client for etcd's v3 API: unary calls over one HTTP/2
//! connection (the `h2` crate), messages encoded by hand.
//!
//! gRPC frames each message as one byte (0: not compressed), a big-endian
//! `u32` length, then the protobuf bytes; the call's outcome is the
//! `grpc-status` of the trailers (or of the headers, for an error answered
//! without a body). Only the two calls the benchmark needs are here:
//! `KV/Put` and `Maintenance/Status`.

use bytes::{BufMut, Bytes, BytesMut};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long one call (or connecting) may take before it is an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer accepted (etcd answers these two calls in bytes).
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// One HTTP/2 connection to an etcd member.
pub struct GrpcConn {
    send: h2::client::SendRequest<Bytes>,
    /// `host:port`, for the `:authority` of each request.
    authority: String,
    /// The task that drives the connection; aborted on drop.
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for GrpcConn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl GrpcConn {
    /// Connects to `addr` (`host:port`) and completes the HTTP/2 handshake.
    pub async fn connect(addr: &str) -> Result<GrpcConn, String> {
        let tcp = timeout(CALL_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connecting to {addr} timed out"))?
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (send, conn) = timeout(CALL_TIMEOUT, h2::client::handshake(tcp))
            .await
            .map_err(|_| format!("HTTP/2 handshake with {addr} timed out"))?
            .map_err(|e| format!("HTTP/2 handshake with {addr}: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(GrpcConn {
            send,
            authority: addr.to_string(),
            driver,
        })
    }

    /// `etcdserverpb.KV/Put(key, value)`; returns the revision of the put.
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<u64, String> {
        let mut msg = Vec::with_capacity(key.len() + value.len() + 12);
        put_bytes_field(&mut msg, 1, key);
        put_bytes_field(&mut msg, 2, value);
        let answer = self.unary("/etcdserverpb.KV/Put", &msg).await?;
        // PutResponse { header: ResponseHeader = 1 { revision = 3 } }
        let header = field(&answer, 1)
            .ok_or("PutResponse without a header")?
            .bytes()?;
        let revision = field(header, 3).map_or(Ok(0), |v| v.varint())?;
        if revision == 0 {
            return Err("PutResponse with revision 0".into());
        }
        Ok(revision)
    }

    /// `etcdserverpb.Maintenance/Status`: (this member's id, the leader's id
    /// or 0 when it knows none).
    pub async fn status(&mut self) -> Result<(u64, u64), String> {
        let answer = self.unary("/etcdserverpb.Maintenance/Status", &[]).await?;
        // StatusResponse { header = 1 { member_id = 2 }, leader = 4 }
        let header = field(&answer, 1)
            .ok_or("StatusResponse without a header")?
            .bytes()?;
        let member = field(header, 2).map_or(Ok(0), |v| v.varint())?;
        let leader = field(&answer, 4).map_or(Ok(0), |v| v.varint())?;
        Ok((member, leader))
    }

    /// One unary call of `path` with the encoded request `msg`; the encoded
    /// answer, or the gRPC error.
    async fn unary(&mut self, path: &str, msg: &[u8]) -> Result<Bytes, String> {
        timeout(CALL_TIMEOUT, self.unary_untimed(path, msg))
            .await
            .map_err(|_| format!("{path} timed out after {CALL_TIMEOUT:?}"))?
    }

    async fn unary_untimed(&mut self, path: &str, msg: &[u8]) -> Result<Bytes, String> {
        let h2e = |e: h2::Error| format!("{path}: {e}");
        let mut send = self.send.clone().ready().await.map_err(h2e)?;
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("http://{}{path}", self.authority))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .map_err(|e| format!("{path}: {e}"))?;
        let (answer, mut body_out) = send.send_request(req, false).map_err(h2e)?;
        let mut frame = BytesMut::with_capacity(5 + msg.len());
        frame.put_u8(0);
        frame.put_u32(u32::try_from(msg.len()).map_err(|_| "request too large")?);
        frame.put_slice(msg);
        body_out.send_data(frame.freeze(), true).map_err(h2e)?;

        let (head, mut body) = answer.await.map_err(h2e)?.into_parts();
        if head.status != http::StatusCode::OK {
            return Err(format!("{path}: HTTP status {}", head.status));
        }
        // A "trailers-only" answer carries the status in the headers.
        if let Some(status) = head.headers.get("grpc-status") {
            check_status(path, status, &head.headers)?;
        }
        let mut data = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(h2e)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
            if data.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "{path}: answer larger than {MAX_ANSWER_BYTES} bytes"
                ));
            }
        }
        let trailers = body.trailers().await.map_err(h2e)?;
        match (trailers, head.headers.contains_key("grpc-status")) {
            (Some(t), _) if t.contains_key("grpc-status") => {
                check_status(path, &t["grpc-status"], &t)?
            }
            (_, true) => {}
            _ => return Err(format!("{path}: no grpc-status in the answer")),
        }
        if data.len() < 5 || data[0] != 0 {
            return Err(format!("{path}: malformed gRPC frame"));
        }
        let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if data.len() != 5 + len {
            return Err(format!(
                "{path}: gRPC frame says {len} bytes, got {}",
                data.len() - 5
            ));
        }
        Ok(data.freeze().split_off(5))
    }
}

fn check_status(
    path: &str,
    status: &http::HeaderValue,
    headers: &http::HeaderMap,
) -> Result<(), String> {
    if status.as_bytes() == b"0" {
        return Ok(());
    }
    let message = headers
        .get("grpc-message")
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
        .unwrap_or_default();
    Err(format!(
        "{path}: grpc-status {} {message}",
        String::from_utf8_lossy(status.as_bytes())
    ))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the length-delimited field `number` (wire type 2).
fn put_bytes_field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, (number << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A field's value as found in a message.
#[derive(Debug, PartialEq, Eq)]
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Value<'a> {
    fn varint(&self) -> Result<u64, String> {
        match self {
            Value::Varint(v) => Ok(*v),
            other => Err(format!("expected a varint, found {other:?}")),
        }
    }

    fn bytes(&self) -> Result<&'a [u8], String> {
        match self {
            Value::Bytes(b) => Ok(b),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

fn read_varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The last occurrence of field `number` in the protobuf message `buf`
/// (protobuf's rule for a repeated scalar), `None` if absent or malformed.
fn field(buf: &[u8], number: u64) -> Option<Value<'_>> {
    let mut at = 0;
    let mut found = None;
    while at < buf.len() {
        let key = read_varint(buf, &mut at)?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut at)?),
            1 => {
                at = at.checked_add(8).filter(|&e| e <= buf.len())?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(read_varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|&e| e <= buf.len())?;
                let b = &buf[at..end];
                at = end;
                Value::Bytes(b)
            }
            5 => {
                at = at.checked_add(4).filter(|&e| e <= buf.len())?;
                Value::Fixed
            }
            _ => return None,
        };
        if key >> 3 == number {
            found = Some(value);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_request_encoding_matches_protobuf() {
        let mut m = Vec::new();
        put_bytes_field(&mut m, 1, b"k");
        put_bytes_field(&mut m, 2, &[b'x'; 200]);
        // key: tag 0x0a, len 1; value: tag 0x12, len 200 = varint c8 01.
        assert_eq!(&m[..5], &[0x0a, 1, b'k', 0x12, 0xc8]);
        assert_eq!(m[5], 0x01);
        assert_eq!(m.len(), 6 + 200);
        assert_eq!(field(&m, 1), Some(Value::Bytes(b"k")));
        assert_eq!(field(&m, 2).unwrap().bytes().unwrap().len(), 200);
        assert_eq!(field(&m, 3), None);
    }

    #[test]
    fn nested_fields_and_varints_decode() {
        let mut header = Vec::new();
        put_varint(&mut header, 2 << 3);
        put_varint(&mut header, 0x1234_5678_9abc);
        let mut m = Vec::new();
        put_bytes_field(&mut m, 1, &header);
        put_varint(&mut m, 4 << 3);
        put_varint(&mut m, 300);
        let h = field(&m, 1).unwrap().bytes().unwrap();
        assert_eq!(field(h, 2).unwrap().varint().unwrap(), 0x1234_5678_9abc);
        assert_eq!(field(&m, 4).unwrap().varint().unwrap(), 300);
        // A truncated message is malformed, not a panic.
        assert_eq!(field(&m[..m.len() - 1], 4), None);
    }
}
