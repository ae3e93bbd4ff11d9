//! The signed request body: `{"time_ms": …, "events": […]}` and its `X-Pusher-Signature`,
//! the lowercase hex HMAC-SHA256 of exactly those bytes keyed with the app secret.
//!
//! The body is serialised once per batch and the same bytes are sent on every retry, so a
//! receiver sees identical bodies (and signatures) for a retried batch and can de-duplicate.

use bytes::Bytes;
use serde::Serialize;

use super::event::WebhookEvent;
use sockwave_protocol::auth::signature::sign;

#[derive(Serialize)]
struct Body<'a> {
    time_ms: u64,
    events: &'a [WebhookEvent],
}

/// The request body and its signature.
#[derive(Debug, Clone)]
pub(crate) struct SignedBody {
    /// The exact bytes to send.
    pub(crate) body: Bytes,
    /// Hex HMAC-SHA256 of `body` with the app secret.
    pub(crate) signature: String,
}

/// Serialises and signs a batch created at `time_ms` (milliseconds since the Unix epoch).
pub(crate) fn signed_body(secret: &str, time_ms: u64, events: &[WebhookEvent]) -> SignedBody {
    let body = serde_json::to_vec(&Body { time_ms, events })
        .expect("webhook events are plain strings and numbers");
    let signature = sign(secret, &body);
    SignedBody {
        body: Bytes::from(body),
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockwave_protocol::auth::signature::verify;

    #[test]
    fn body_shape_and_signature() {
        let events = [WebhookEvent::ChannelOccupied {
            channel: "my-channel".into(),
        }];
        let signed = signed_body("secret", 1327078148132, &events);
        let text = std::str::from_utf8(&signed.body).unwrap();
        assert_eq!(
            text,
            r#"{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"my-channel"}]}"#
        );
        // Independently computed: printf '%s' "$body" | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signed.signature,
            "782d37aad92ac9df7f27feb978ce87fade207d779356780471e558abb1c4936f"
        );
        assert!(verify("secret", &signed.body, &signed.signature));
        assert!(!verify("other", &signed.body, &signed.signature));
    }
}
