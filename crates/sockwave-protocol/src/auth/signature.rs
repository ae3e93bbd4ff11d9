//! HMAC-SHA256 signing and constant-time verification, the primitive under every Pusher
//! signature (channel auth, sign-in, HTTP API, webhooks).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

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

/// Compares two secrets without an early exit (`subtle`), so timing does not reveal how
/// much of a guess was right (only whether the lengths match).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
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
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"toke"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    /// Timing cannot be asserted in a test; what can be asserted is that `verify` compares
    /// the whole MAC: it goes through `Mac::verify_slice` (constant time, from the `subtle`
    /// crate) and refuses every prefix, extension and single-digit change of a valid one.
    #[test]
    fn only_the_whole_signature_verifies() {
        let message = b"1234.1234:private-foobar";
        let valid = sign(SECRET, message);
        assert!(verify(SECRET, message, &valid));
        for len in 0..valid.len() {
            assert!(!verify(SECRET, message, &valid[..len]), "prefix of {len}");
        }
        assert!(!verify(SECRET, message, &format!("{valid}00")));
        for at in 0..valid.len() {
            let mut changed = valid.clone().into_bytes();
            changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
            let changed = String::from_utf8(changed).unwrap();
            assert!(!verify(SECRET, message, &changed), "digit {at} changed");
        }
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
