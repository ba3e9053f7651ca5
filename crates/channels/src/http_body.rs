//! Reading a request body under a byte limit without losing the answer to a client that is
//! still sending: shared by the Instagram webhook and the bridge.

use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::http::{HeaderMap, StatusCode, header};

/// How much of a refused body is still read (and thrown away) behind the 413, and for how
/// long, so that a client still sending it gets to read the answer.
const DRAIN_MAX_BYTES: u64 = 64 << 20;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(30);

/// Reads a request body of at most `limit` bytes; a larger one is refused with 413.
///
/// A body that declares a larger Content-Length is refused before any of it is read; a
/// chunked one once more than `limit` bytes have come. Either way the answer goes out at
/// once and the rest of the body is read and thrown away behind it (up to
/// [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`]). Dropping the body instead, as axum's
/// `DefaultBodyLimit` does, makes hyper read only what has already arrived and then close
/// the connection with the client still sending: the client gets a connection reset
/// instead of the answer. A client that sent `Expect: 100-continue` is answered without
/// being asked for the body at all.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Bytes, (StatusCode, String)> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body exceeds the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let waits_for_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !waits_for_continue && declared.is_some_and(|length| length <= DRAIN_MAX_BYTES) {
            drain_behind_answer(body);
        }
        return Err(too_large());
    }
    let mut read = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    while let Some(data) = next_data(&mut body).await {
        let data = data.map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        })?;
        if read.len() + data.len() > limit {
            drain_behind_answer(body);
            return Err(too_large());
        }
        read.extend_from_slice(&data);
    }
    Ok(Bytes::from(read))
}

/// The next piece of `body` (trailers are skipped), or `None` at its end.
async fn next_data(body: &mut Body) -> Option<Result<Bytes, axum::Error>> {
    loop {
        let frame =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

/// Reads the rest of a refused body in the background, throwing it away, so the client can
/// finish sending it and read the answer; the connection closes if it goes on for too long.
fn drain_behind_answer(mut body: Body) {
    tokio::spawn(async move {
        let drain = async {
            let mut drained = 0u64;
            while let Some(Ok(data)) = next_data(&mut body).await {
                drained += data.len() as u64;
                if drained > DRAIN_MAX_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain).await;
    });
}
