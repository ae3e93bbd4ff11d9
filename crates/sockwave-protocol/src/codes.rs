//! The catalogue of Pusher error and close codes, and the one place their numbers live.
//!
//! Ranges decide what pusher-js does after a close (see `../shared/PROTOCOL.md` §7.3):
//! 4000–4099 refused (no reconnect), 4100–4199 reconnect after back-off, 4200–4299 reconnect
//! at once, 4300 and above refused. A `pusher:error` frame without a close changes nothing on
//! the client but its error callbacks.

/// A Pusher protocol code, sent in `pusher:error` frames and as WebSocket close codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 4001: no app has the key in the connection path. Close; no reconnect.
    AppNotFound,
    /// 4003: the app is disabled. Close; no reconnect.
    AppDisabled,
    /// 4004: the app is over its connection quota. Close; no reconnect.
    OverConnectionQuota,
    /// 4005: the connection path is not `/app/{key}`. Close; no reconnect.
    PathNotFound,
    /// 4006: the `protocol` query parameter is not a number. Close; no reconnect.
    InvalidVersionFormat,
    /// 4007: the `protocol` version is not one we speak (4–7). Close; no reconnect.
    UnsupportedProtocol,
    /// 4008: no `protocol` query parameter. Close; no reconnect.
    NoProtocolVersion,
    /// 4009: the connection or an operation on it is not authorised (subscription auth,
    /// sign-in, terminated by the app).
    Unauthorized,
    /// 4100: over capacity, including a socket that does not read its frames fast enough
    /// (slow consumer) and one that sends more messages than its rate limit allows. Close;
    /// the client reconnects after a back-off.
    OverCapacity,
    /// 4200: generic "reconnect now", sent when the server shuts down.
    Reconnect,
    /// 4201: the client did not answer the server's ping in time.
    PongNotReceived,
    /// 4300: a message the server could not accept (malformed JSON, missing fields, unknown
    /// `pusher:` event, invalid channel). Not defined by Pusher; only ever sent in a
    /// `pusher:error` frame, never as a close code.
    InvalidMessage,
    /// 4301: a client event was rejected (disabled, wrong channel, not subscribed, too
    /// large, or over the rate limit). Sent in `pusher:error`; the socket stays open.
    ClientEventRejected,
    /// 4302: the sign-in watchlist had more ids than allowed; the first ones were kept.
    WatchlistLimit,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            ErrorCode::AppNotFound => 4001,
            ErrorCode::AppDisabled => 4003,
            ErrorCode::OverConnectionQuota => 4004,
            ErrorCode::PathNotFound => 4005,
            ErrorCode::InvalidVersionFormat => 4006,
            ErrorCode::UnsupportedProtocol => 4007,
            ErrorCode::NoProtocolVersion => 4008,
            ErrorCode::Unauthorized => 4009,
            ErrorCode::OverCapacity => 4100,
            ErrorCode::Reconnect => 4200,
            ErrorCode::PongNotReceived => 4201,
            ErrorCode::InvalidMessage => 4300,
            ErrorCode::ClientEventRejected => 4301,
            ErrorCode::WatchlistLimit => 4302,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn ranges_match_client_behaviour() {
        // Codes that must stop pusher-js from reconnecting sit in 4000-4099.
        for code in [
            ErrorCode::AppNotFound,
            ErrorCode::AppDisabled,
            ErrorCode::OverConnectionQuota,
            ErrorCode::NoProtocolVersion,
            ErrorCode::Unauthorized,
        ] {
            assert!((4000..4100).contains(&code.as_u16()), "{code:?}");
        }
        assert!((4100..4200).contains(&ErrorCode::OverCapacity.as_u16()));
        assert!((4200..4300).contains(&ErrorCode::Reconnect.as_u16()));
        assert!((4200..4300).contains(&ErrorCode::PongNotReceived.as_u16()));
    }
}
