//! The node-to-node message format: one versioned, tagged enum, serialised as JSON once per
//! cluster hop. Frames for sockets travel pre-serialised, so receiving nodes never rebuild
//! them.

use sockwave_protocol::AppId;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The wire version; a node ignores (and logs) envelopes of another version.
pub(crate) const WIRE_VERSION: u8 = 1;

/// A message from one node to all others.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// Wire version.
    pub(crate) v: u8,
    /// When the sender encoded it: milliseconds of its wall clock (absent from older nodes).
    /// Receivers compare transit times, never clocks (see `pressure::note_transit`).
    #[serde(default)]
    pub(crate) at: Option<u64>,
    /// The sending node.
    pub(crate) node: String,
    /// The message.
    #[serde(flatten)]
    pub(crate) message: NodeMessage,
}

/// What nodes tell each other.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum NodeMessage {
    /// "I am alive": sent periodically with this node's connection count per app.
    Heartbeat {
        /// Connected sockets per app id.
        connections: HashMap<AppId, u64>,
    },
    /// A new node (or one back from an outage) asks everybody for a snapshot.
    Hello,
    /// The full local state of the sending node.
    Snapshot {
        /// Per app id.
        apps: HashMap<AppId, AppSnapshot>,
    },
    /// The sending node shuts down: forget its state now instead of after the dead timeout.
    Goodbye,
    /// A frame for the subscribers of a channel on the receiving nodes.
    Broadcast {
        /// App id.
        app: AppId,
        /// Channel name.
        channel: String,
        /// The serialised frame.
        frame: String,
        /// Socket id that must not receive it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        except: Option<String>,
        /// For cache channels: the event to remember, so every node can replay it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        cache: Option<CacheEntry>,
    },
    /// A history channel's frame, published by the history store (Redis) with its position
    /// filled in; every node delivers it, the publishing one too, in the order the store
    /// assigned positions. `position` must stay the last field: the store inserts the
    /// position between the two halves of this message serialised with an empty one
    /// (`positioned_parts`).
    Positioned {
        /// App id.
        app: AppId,
        /// Channel name.
        channel: String,
        /// Socket id that must not receive it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        except: Option<String>,
        /// The frame without its position.
        frame: String,
        /// For cache channels: the event to remember, so every node can replay it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        cache: Option<CacheEntry>,
        /// `{epoch}:{seq}`.
        position: String,
    },
    /// A frame for every socket signed in as a user.
    ToUser {
        /// App id.
        app: AppId,
        /// User id.
        user_id: String,
        /// The serialised frame.
        frame: String,
    },
    /// Close every socket of a user (signed in or presence member) with 4009.
    Terminate {
        /// App id.
        app: AppId,
        /// User id.
        user_id: String,
    },
    /// The sending node is behind delivering: refuse publishes for `for_ms`, then pace them
    /// below `rate` (backpressure).
    Pressure {
        /// How long the signal holds, in milliseconds.
        for_ms: u64,
        /// Cluster messages a second the sender has been handling, when it measured it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        rate: Option<u64>,
    },
    /// Node-local state changes, coalesced.
    Delta {
        /// App id.
        app: AppId,
        /// The changes, in the order they happened on the sender.
        changes: Vec<Change>,
    },
}

/// A cached channel event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CacheEntry {
    /// Event name.
    pub(crate) event: String,
    /// Event data.
    pub(crate) data: String,
    /// Seconds it stays cached.
    pub(crate) ttl_secs: u64,
}

/// One change of a node's local state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Change {
    /// The node's subscriber count of a channel (0 = vacated on that node).
    Count {
        /// Channel.
        channel: String,
        /// Subscribers on the sending node.
        count: usize,
    },
    /// A user's first socket on the node joined a presence channel.
    MemberJoined {
        /// Channel.
        channel: String,
        /// User id.
        user_id: String,
        /// Member info.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        user_info: Option<serde_json::Value>,
    },
    /// A user's last socket on the node left a presence channel.
    MemberLeft {
        /// Channel.
        channel: String,
        /// User id.
        user_id: String,
    },
    /// A user's first socket on the node signed in.
    UserOnline {
        /// User id.
        user_id: String,
    },
    /// A user's last signed-in socket on the node went away.
    UserOffline {
        /// User id.
        user_id: String,
    },
}

/// One app's state on one node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AppSnapshot {
    /// Connected sockets.
    pub(crate) connections: u64,
    /// Subscribers per occupied channel.
    pub(crate) channels: HashMap<String, usize>,
    /// Presence members per channel: user id → info.
    pub(crate) presence: HashMap<String, HashMap<String, Option<serde_json::Value>>>,
    /// Signed-in users.
    pub(crate) users: Vec<String>,
}

/// Why an incoming payload was ignored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// Not a valid envelope.
    #[error("malformed node message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Another wire version.
    #[error("node message version {0} is not {WIRE_VERSION}")]
    Version(u8),
}

/// Serialises an envelope.
pub(crate) fn encode(node: &str, message: &NodeMessage) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        v: u8,
        at: u64,
        node: &'a str,
        #[serde(flatten)]
        message: &'a NodeMessage,
    }
    serde_json::to_string(&Out {
        v: WIRE_VERSION,
        at: wall_clock_ms(),
        node,
        message,
    })
    .expect("node messages hold only strings, numbers, maps and raw JSON")
}

/// A `Positioned` message serialised around its (empty) position: the store sends
/// `head + position + tail`.
pub(crate) fn positioned_parts(node: &str, message: &NodeMessage) -> (String, String) {
    let text = encode(node, message);
    let head = text
        .strip_suffix("\"}")
        .filter(|head| head.ends_with(",\"position\":\""))
        .expect("a Positioned message ends with its empty position");
    (head.to_string(), "\"}".to_string())
}

/// Milliseconds since the Unix epoch on this machine's clock.
pub(crate) fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Parses an envelope, refusing other versions.
pub(crate) fn decode(payload: &[u8]) -> Result<Envelope, DecodeError> {
    let envelope: Envelope = serde_json::from_slice(payload)?;
    if envelope.v != WIRE_VERSION {
        return Err(DecodeError::Version(envelope.v));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_positioned_message_takes_its_position_between_its_halves() {
        let message = NodeMessage::Positioned {
            app: "a".into(),
            channel: "history-x".into(),
            except: None,
            frame: r#"{"event":"e","channel":"history-x","data":"d"}"#.into(),
            cache: None,
            position: String::new(),
        };
        let (head, tail) = positioned_parts("n1", &message);
        let envelope = decode(format!("{head}ab12:7{tail}").as_bytes()).unwrap();
        let NodeMessage::Positioned {
            position, frame, ..
        } = envelope.message
        else {
            panic!("not positioned");
        };
        assert_eq!(position, "ab12:7");
        assert!(frame.starts_with(r#"{"event":"e""#));
    }

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let message = NodeMessage::Broadcast {
            app: "a".into(),
            channel: "c".into(),
            frame: r#"{"event":"e"}"#.into(),
            except: Some("1.2".into()),
            cache: None,
        };
        let before = wall_clock_ms();
        let text = encode("n1", &message);
        assert!(text.starts_with(r#"{"v":1,"at":"#), "{text}");
        assert!(
            text.contains(r#","node":"n1","type":"broadcast""#),
            "{text}"
        );
        let back = decode(text.as_bytes()).unwrap();
        assert_eq!(back.node, "n1");
        let at = back.at.expect("the send time");
        assert!(at >= before && at <= wall_clock_ms());
        // An older node's message, without a send time, still decodes.
        let old = decode(br#"{"v":1,"node":"n0","type":"hello"}"#).unwrap();
        assert_eq!((old.node.as_str(), old.at), ("n0", None));
        assert!(
            matches!(back.message, NodeMessage::Broadcast { except: Some(e), .. } if e == "1.2")
        );
        assert!(matches!(
            decode(br#"{"v":2,"node":"n","type":"hello"}"#),
            Err(DecodeError::Version(2))
        ));
        assert!(decode(b"garbage").is_err());
        let delta = encode(
            "n1",
            &NodeMessage::Delta {
                app: "a".into(),
                changes: vec![Change::MemberJoined {
                    channel: "presence-x".into(),
                    user_id: "1".into(),
                    user_info: Some(serde_json::json!({"n": 1})),
                }],
            },
        );
        assert!(matches!(
            decode(delta.as_bytes()).unwrap().message,
            NodeMessage::Delta { .. }
        ));
    }
}
