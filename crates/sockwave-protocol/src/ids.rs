//! Identifiers as they appear on the wire: socket ids, and the two names of an app (its id in
//! HTTP API paths, its key in WebSocket paths and signatures), typed so one is never passed
//! where the other belongs.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

/// A string id shared cheaply: cloning one (into every socket, event and log row) copies a
/// pointer, not the text.
macro_rules! shared_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps `text` as it is; validation belongs to whoever reads it from outside.
            pub fn new(text: impl Into<Arc<str>>) -> $name {
                $name(text.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> $name {
                $name(text.into())
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> $name {
                $name(text.into())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                String::deserialize(deserializer).map($name::from)
            }
        }
    };
}

shared_id! {
    /// An app's id: the `{app_id}` in `/apps/{app_id}/events`, and the scope of every
    /// channel, socket and metric.
    AppId
}

shared_id! {
    /// An app's public key: the `{key}` in `/app/{key}`, the `auth_key` of HTTP API requests
    /// and the part before `:` in channel auth tokens.
    AppKey
}

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
    fn app_ids_compare_and_serialise_as_their_text() {
        let id = AppId::from("app-1");
        assert_eq!(id, "app-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""app-1""#);
        assert_eq!(serde_json::from_str::<AppId>(r#""app-1""#).unwrap(), id);
        let by_id: std::collections::HashMap<AppId, u8> = [(id.clone(), 1)].into();
        assert_eq!(by_id.get("app-1"), Some(&1));
        assert_eq!(format!("{id} {id:?}"), r#"app-1 "app-1""#);
    }

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
