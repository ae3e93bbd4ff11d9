//! Socket identity. The handle other parts of the server hold to reach a socket lives with the
//! connection (`connection::outbox`), since it writes to the socket.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// A socket id, `"{high}.{low}"` on the wire (`^\d+\.\d+$`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    high: u32,
    low: u64,
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.high, self.low)
    }
}

impl FromStr for SocketId {
    type Err = ();

    /// Parses `digits.digits`; anything else (signs, spaces, empty parts) is refused.
    fn from_str(s: &str) -> Result<SocketId, ()> {
        let (high, low) = s.split_once('.').ok_or(())?;
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(high) || !digits(low) {
            return Err(());
        }
        Ok(SocketId {
            high: high.parse().map_err(|_| ())?,
            low: low.parse().map_err(|_| ())?,
        })
    }
}

/// Hands out unique socket ids: a random first part per socket, a process-wide counter as the
/// second, so ids are unique on this node and collide across nodes only if both parts match.
#[derive(Debug, Default)]
pub struct SocketIdGenerator {
    counter: AtomicU64,
}

impl SocketIdGenerator {
    /// The next id.
    pub fn next_id(&self) -> SocketId {
        SocketId {
            high: rand::random_range(1..1_000_000_000),
            low: self.counter.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_ids_round_trip() {
        let generator = SocketIdGenerator::default();
        let id = generator.next_id();
        assert_eq!(id.to_string().parse::<SocketId>(), Ok(id));
        assert_ne!(generator.next_id(), generator.next_id());
        for bad in ["", "1", "1.", ".1", "a.1", "1.2.3", "-1.2", "1.+2", " 1.2"] {
            assert!(bad.parse::<SocketId>().is_err(), "{bad}");
        }
    }
}
