//! Channel names: validation and the kind a name's prefix selects.
//!
//! A `ChannelName` is proof that the name passed the charset and length rules; code that holds
//! one never re-checks it. Reserved `#` names (`#server-to-user-{id}`) are parsed separately,
//! because clients may never subscribe to them.

use std::fmt;

/// What a channel's prefix makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Anyone may subscribe.
    Public,
    /// `private-`: subscription needs a signature.
    Private,
    /// `private-encrypted-`: authorised like private; the server never sees the plaintext.
    PrivateEncrypted,
    /// `presence-`: signature over `channel_data`, member list kept by the server.
    Presence,
}

impl ChannelKind {
    /// Whether subscribing needs an `auth` signature.
    pub fn needs_auth(self) -> bool {
        !matches!(self, ChannelKind::Public)
    }

    /// Whether clients may send `client-*` events on it.
    pub fn allows_client_events(self) -> bool {
        matches!(self, ChannelKind::Private | ChannelKind::Presence)
    }
}

/// Why a channel name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelNameError {
    /// The name is empty.
    #[error("channel name is empty")]
    Empty,
    /// The name is longer than the app allows.
    #[error("channel name '{name}' is {len} characters long, the limit is {max}")]
    TooLong {
        /// The refused name, cut to a printable length.
        name: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The name has a character outside `A-Z a-z 0-9 _ - = @ , . ;`.
    #[error("channel name '{name}' contains '{bad}': only letters, digits and _ - = @ , . ; are allowed")]
    BadCharacter {
        /// The refused name, cut to a printable length.
        name: String,
        /// The first offending character.
        bad: char,
    },
    /// The name starts with `#`, which is reserved for server-to-user channels.
    #[error("channel name '{name}' is reserved: names starting with '#' are internal")]
    Reserved {
        /// The refused name, cut to a printable length.
        name: String,
    },
}

/// A channel name that passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);

/// The prefix of the per-user channels the HTTP API publishes to with `sendToUser`.
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

impl ChannelName {
    /// Validates a name a client or publisher supplied.
    pub fn parse(name: &str, max_len: usize) -> Result<ChannelName, ChannelNameError> {
        if name.is_empty() {
            return Err(ChannelNameError::Empty);
        }
        let len = name.chars().count();
        if len > max_len {
            return Err(ChannelNameError::TooLong {
                name: shorten(name),
                len,
                max: max_len,
            });
        }
        if name.starts_with('#') {
            return Err(ChannelNameError::Reserved {
                name: shorten(name),
            });
        }
        if let Some(bad) = name.chars().find(|c| !is_allowed(*c)) {
            return Err(ChannelNameError::BadCharacter {
                name: shorten(name),
                bad,
            });
        }
        Ok(ChannelName(name.to_string()))
    }

    /// The name as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kind selected by the name's prefix.
    pub fn kind(&self) -> ChannelKind {
        kind_of(&self.0)
    }

    /// Whether the last published event is cached (`cache-`, `private-cache-`,
    /// `private-encrypted-cache-`, `presence-cache-`).
    pub fn is_cache(&self) -> bool {
        [
            "cache-",
            "private-cache-",
            "private-encrypted-cache-",
            "presence-cache-",
        ]
        .iter()
        .any(|prefix| self.0.starts_with(prefix))
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind a raw (possibly unvalidated) name would have.
pub fn kind_of(name: &str) -> ChannelKind {
    if name.starts_with("private-encrypted-") {
        ChannelKind::PrivateEncrypted
    } else if name.starts_with("private-") {
        ChannelKind::Private
    } else if name.starts_with("presence-") {
        ChannelKind::Presence
    } else {
        ChannelKind::Public
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '=' | '@' | ',' | '.' | ';')
}

/// Cuts a name for an error message so a 1 MB name does not become a 1 MB log line.
fn shorten(name: &str) -> String {
    const SHOWN: usize = 64;
    if name.chars().count() <= SHOWN {
        name.to_string()
    } else {
        let head: String = name.chars().take(SHOWN).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: Result<ChannelKind, &str>) {
        let got = ChannelName::parse(name, 200).map(|c| c.kind());
        match (got, expected) {
            (Ok(kind), Ok(want)) => assert_eq!(kind, want, "{name}"),
            (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{name}: {err}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn names_and_kinds() {
        check("my-channel", Ok(ChannelKind::Public));
        check("private-orders", Ok(ChannelKind::Private));
        check("private-encrypted-x", Ok(ChannelKind::PrivateEncrypted));
        check("presence-room.1", Ok(ChannelKind::Presence));
        check("a_b-c=d@e,f.g;h", Ok(ChannelKind::Public));
        check("privatefoo", Ok(ChannelKind::Public));
        check("", Err("empty"));
        check("foo bar", Err("contains ' '"));
        check("foo$", Err("contains '$'"));
        check("#server-to-user-1", Err("reserved"));
        check(
            &"a".repeat(201),
            Err("201 characters long, the limit is 200"),
        );
        check(&"a".repeat(200), Ok(ChannelKind::Public));
    }

    #[test]
    fn cache_prefixes() {
        for name in [
            "cache-a",
            "private-cache-a",
            "private-encrypted-cache-a",
            "presence-cache-a",
        ] {
            assert!(ChannelName::parse(name, 200).unwrap().is_cache(), "{name}");
        }
        assert!(!ChannelName::parse("private-a", 200).unwrap().is_cache());
    }

    #[test]
    fn long_names_are_shortened_in_errors() {
        let err = ChannelName::parse(&"x".repeat(5000), 200).unwrap_err();
        assert!(err.to_string().len() < 200);
    }
}
