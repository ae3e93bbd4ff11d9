//! Reading HTTP request bodies without letting a client pin memory or a connection: a size
//! cap, a deadline for the whole body, a minimum rate, and a server-wide budget of body bytes
//! in flight.
//!
//! Callers check everything they can before reading (the API its signature, the console its
//! token), so a stranger never gets this far; the limits here bound what a client that did
//! get this far can hold. Bytes are reserved in the budget before they are read — a declared
//! `Content-Length` up front, a chunked body as it grows — so memory for bodies never exceeds
//! the budget, and past it the answer is 503 with `Retry-After` before anything is read.
//! Knows nothing of routes or of the Pusher API.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::{HeaderMap, StatusCode};
use tokio::time::{Duration, Instant};

/// A body slower than this on average (after `RATE_GRACE`) is cut off: a trickle is an
/// attack, not a network. 16 KiB/s is far below any link a backend publishes over.
const MIN_RATE_BYTES_PER_SEC: u64 = 16 * 1024;
/// Time a body may take before the minimum rate applies (connection warm-up, a first chunk
/// that waits for the client's application).
const RATE_GRACE: Duration = Duration::from_secs(2);

/// The limits one body is read under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// Largest body accepted.
    pub max_bytes: usize,
    /// Time from the first read to the last byte.
    pub timeout: Duration,
}

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// Over the size cap (declared or while reading).
    #[error("request body is larger than the server limit of {max} bytes")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// Not complete within the deadline, or below the minimum rate.
    #[error("request body too slow: {received} bytes in {elapsed_ms} ms (the whole body must arrive within {timeout_secs} s, at no less than {min_rate_kib} KiB/s after the first {grace_secs} s)")]
    TooSlow {
        /// Bytes received before the cut.
        received: usize,
        /// Time spent.
        elapsed_ms: u128,
        /// The whole-body deadline.
        timeout_secs: u64,
        /// The minimum rate.
        min_rate_kib: u64,
        /// The grace before the rate applies.
        grace_secs: u64,
    },
    /// The server-wide budget for bodies in flight is spent.
    #[error("the server is reading too many request bodies at once ({budget} bytes in flight): retry shortly")]
    Busy {
        /// The budget.
        budget: usize,
    },
    /// The connection failed while the body was read.
    #[error("could not read the request body: {0}")]
    Broken(String),
}

impl BodyError {
    /// The HTTP status this refusal is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            BodyError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// The server-wide budget of body bytes being read or held.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    limit: usize,
    in_use: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: usize) -> BodyBudget {
        BodyBudget {
            limit,
            in_use: AtomicUsize::new(0),
        }
    }

    #[cfg(test)]
    /// Bytes reserved right now.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    fn try_take(&self, n_bytes: usize) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n_bytes)
                    .filter(|total| *total <= self.limit)
            })
            .is_ok()
    }
}

/// Bytes held in the budget; given back when dropped.
struct Reservation<'a> {
    budget: &'a BodyBudget,
    n_bytes: usize,
}

impl Reservation<'_> {
    fn grow_to(&mut self, n_bytes: usize) -> Result<(), BodyError> {
        if n_bytes <= self.n_bytes {
            return Ok(());
        }
        if !self.budget.try_take(n_bytes - self.n_bytes) {
            return Err(BodyError::Busy {
                budget: self.budget.limit,
            });
        }
        self.n_bytes = n_bytes;
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(self.n_bytes, Ordering::AcqRel);
    }
}

/// The body length the headers announce: `Some(0)` for none, `None` for a chunked body.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    match headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(length) => Some(length),
        None if headers.contains_key(TRANSFER_ENCODING) => None,
        None => Some(0),
    }
}

/// Refuses a body whose declared length is over the cap, before anything else is looked at.
pub(crate) fn check_declared(declared: Option<u64>, max_bytes: usize) -> Result<(), BodyError> {
    match declared {
        Some(length) if length > max_bytes as u64 => Err(BodyError::TooLarge { max: max_bytes }),
        _ => Ok(()),
    }
}

/// The deadline for the next chunk: the whole-body deadline, or sooner when the bytes so far
/// are below the minimum rate.
fn next_deadline(started: Instant, received: usize, limits: &BodyLimits) -> Instant {
    let earned = Duration::from_secs_f64(received as f64 / MIN_RATE_BYTES_PER_SEC as f64);
    started + (RATE_GRACE + earned).min(limits.timeout)
}

/// A body that was read, with its bytes still counted in the budget: the count ends when
/// the body is dropped, so the budget covers the whole request, not just the reading.
pub(crate) struct Body<'a> {
    bytes: Bytes,
    _reservation: Reservation<'a>,
}

impl std::ops::Deref for Body<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.bytes.len())
    }
}

/// Reads a whole body under `limits`; its bytes count against `budget` from before they
/// are read until the returned `Body` is dropped.
pub(crate) async fn read<'a>(
    body: Incoming,
    declared: Option<u64>,
    limits: &BodyLimits,
    budget: &'a BodyBudget,
) -> Result<Body<'a>, BodyError> {
    let max = limits.max_bytes;
    let mut reservation = Reservation { budget, n_bytes: 0 };
    check_declared(declared, max)?;
    let declared = match declared {
        Some(0) => {
            return Ok(Body {
                bytes: Bytes::new(),
                _reservation: reservation,
            })
        }
        Some(length) => Some(length as usize),
        None => None,
    };
    reservation.grow_to(declared.unwrap_or(0))?;
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0));
    let mut body = body;
    let started = Instant::now();
    loop {
        let deadline = next_deadline(started, buffer.len(), limits);
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(BodyError::TooSlow {
                    received: buffer.len(),
                    elapsed_ms: started.elapsed().as_millis(),
                    timeout_secs: limits.timeout.as_secs(),
                    min_rate_kib: MIN_RATE_BYTES_PER_SEC / 1024,
                    grace_secs: RATE_GRACE.as_secs(),
                })
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => return Err(BodyError::Broken(err.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let total = buffer.len() + data.len();
        if total > max {
            return Err(BodyError::TooLarge { max });
        }
        reservation.grow_to(total)?;
        buffer.extend_from_slice(&data);
    }
    Ok(Body {
        bytes: buffer.freeze(),
        _reservation: reservation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = BodyBudget::new(100);
        let mut first = Reservation {
            budget: &budget,
            n_bytes: 0,
        };
        assert_eq!(first.grow_to(60), Ok(()));
        let mut second = Reservation {
            budget: &budget,
            n_bytes: 0,
        };
        assert_eq!(second.grow_to(50), Err(BodyError::Busy { budget: 100 }));
        assert_eq!(second.grow_to(40), Ok(()));
        assert_eq!(budget.in_use(), 100);
        drop(first);
        assert_eq!(budget.in_use(), 40);
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn the_deadline_follows_the_minimum_rate() {
        let limits = BodyLimits {
            max_bytes: 1 << 21,
            timeout: Duration::from_secs(10),
        };
        let started = Instant::now();
        assert_eq!(next_deadline(started, 0, &limits), started + RATE_GRACE);
        let one_second_of_bytes = MIN_RATE_BYTES_PER_SEC as usize;
        assert_eq!(
            next_deadline(started, one_second_of_bytes, &limits),
            started + RATE_GRACE + Duration::from_secs(1)
        );
        assert_eq!(
            next_deadline(started, 1 << 21, &limits),
            started + limits.timeout
        );
    }

    #[test]
    fn declared_lengths() {
        let mut headers = HeaderMap::new();
        assert_eq!(declared_length(&headers), Some(0));
        headers.insert(TRANSFER_ENCODING, "chunked".parse().unwrap());
        assert_eq!(declared_length(&headers), None);
        headers.insert(CONTENT_LENGTH, "12".parse().unwrap());
        assert_eq!(declared_length(&headers), Some(12));
    }
}
