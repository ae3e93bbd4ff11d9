//! A history position: `{epoch}:{seq}`. `seq` counts a channel's events from 1 without gaps;
//! `epoch` names one life of the channel's history, so a position from a history that was
//! lost (expired, a restarted in-memory node, a flushed Redis) can never be mistaken for one
//! of the history that replaced it.

use std::fmt;

/// Longest epoch accepted from a client.
const MAX_EPOCH_CHARS: usize = 16;

/// Where a client stands in a channel's stream of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    /// The history's life.
    pub(crate) epoch: String,
    /// The last event's number in it; 0 before the first.
    pub(crate) seq: u64,
}

impl Position {
    /// Parses `{epoch}:{seq}`; `None` for anything else (a client wrote it).
    pub(crate) fn parse(text: &str) -> Option<Position> {
        let (epoch, seq) = text.split_once(':')?;
        let epoch_ok = !epoch.is_empty()
            && epoch.len() <= MAX_EPOCH_CHARS
            && epoch.bytes().all(|b| b.is_ascii_alphanumeric());
        let seq_ok = !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit());
        if !(epoch_ok && seq_ok) {
            return None;
        }
        Some(Position {
            epoch: epoch.to_string(),
            seq: seq.parse().ok()?,
        })
    }

    /// The registry's compact form of this position.
    pub(crate) fn stamp(&self) -> crate::registry::Stamp {
        crate::registry::Stamp {
            epoch: crate::registry::Stamp::epoch_key(&self.epoch),
            seq: self.seq,
        }
    }

    /// A new random epoch (8 hex digits).
    pub(crate) fn new_epoch() -> String {
        format!("{:08x}", rand::random::<u32>())
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn round_trip_and_refusals() {
        let position = Position::parse("9f3a01c2:42").unwrap();
        assert_eq!(position.seq, 42);
        assert_eq!(position.to_string(), "9f3a01c2:42");
        for bad in [
            "",
            ":",
            "a:",
            ":1",
            "a:b",
            "a:-1",
            "a b:1",
            "a:1:2",
            "a:99999999999999999999",
            "01234567890123456:1",
        ] {
            assert_eq!(Position::parse(bad), None, "{bad}");
        }
        assert_eq!(Position::new_epoch().len(), 8);
    }
}
