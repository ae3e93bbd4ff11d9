//! HMAC-SHA256 signing and constant-time verification, the primitive under every Pusher
//! signature (channel auth, sign-in, HTTP API, webhooks).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, message: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac
}

/// Lowercase hex HMAC-SHA256 of `message` keyed with `secret`.
pub fn sign(secret: &str, message: &[u8]) -> String {
    hex::encode(mac(secret, message).finalize().into_bytes())
}

/// Whether `signature_hex` is the HMAC of `message`, compared in constant time.
/// Upper-case hex is accepted; anything that is not 64 hex digits is simply wrong.
pub fn verify(secret: &str, message: &[u8], signature_hex: &str) -> bool {
    let Ok(given) = hex::decode(signature_hex) else {
        return false;
    };
    mac(secret, message).verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "7ad3773142a6692b25b8";

    // Test vectors from Pusher's auth-signature docs (../shared/PROTOCOL.md §6.1).
    fn check(message: &str, expected: &str) {
        assert_eq!(sign(SECRET, message.as_bytes()), expected, "{message}");
        assert!(verify(SECRET, message.as_bytes(), expected));
        assert!(verify(SECRET, message.as_bytes(), &expected.to_uppercase()));
    }

    #[test]
    fn pusher_doc_vectors() {
        check(
            "1234.1234:private-foobar",
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
        );
        check(
            r#"1234.1234::user::{"id":"12345"}"#,
            "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba",
        );
        check(
            r#"1234.1234:presence-foobar:{"user_id":10,"user_info":{"name":"Mr. Pusher"}}"#,
            "afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c",
        );
    }

    #[test]
    fn wrong_signatures_fail() {
        let message = b"1234.1234:private-foobar";
        assert!(!verify(SECRET, message, "58df8b0c"));
        assert!(!verify(SECRET, message, "not hex"));
        assert!(!verify(SECRET, message, ""));
        assert!(!verify(
            "other",
            message,
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        ));
    }
}
