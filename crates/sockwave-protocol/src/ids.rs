//! Identifiers as they appear on the wire.

use std::fmt;
use std::str::FromStr;

/// A socket id, `"{high}.{low}"` on the wire (`^\d+\.\d+$`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    high: u32,
    low: u64,
}

impl SocketId {
    /// The id `"{high}.{low}"`.
    pub fn new(high: u32, low: u64) -> SocketId {
        SocketId { high, low }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_ids_round_trip() {
        let id = SocketId::new(123, 456);
        assert_eq!(id.to_string(), "123.456");
        assert_eq!(id.to_string().parse::<SocketId>(), Ok(id));
        for bad in ["", "1", "1.", ".1", "a.1", "1.2.3", "-1.2", "1.+2", " 1.2"] {
            assert!(bad.parse::<SocketId>().is_err(), "{bad}");
        }
    }
}
