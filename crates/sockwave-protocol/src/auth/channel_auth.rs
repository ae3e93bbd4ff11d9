//! Verifying the `auth` token a client sends to subscribe to a private or presence channel,
//! or to sign in: `"{app_key}:{hex HMAC-SHA256(secret, string_to_sign)}"`.

use super::signature;

/// Why a channel or sign-in `auth` token was refused. Messages never contain the secret or
/// the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `auth` was sent (or it was empty).
    #[error(
        "auth is missing: private and presence channels need a signature from your auth endpoint"
    )]
    Missing,
    /// The token is not `key:signature`.
    #[error("auth '{given}' is not in the form 'key:signature'")]
    Malformed {
        /// The token, cut to a printable length.
        given: String,
    },
    /// The key part is not this app's key.
    #[error("auth key '{given}' is not the key of this app: the auth endpoint signs with other credentials")]
    WrongKey {
        /// The key the client sent.
        given: String,
    },
    /// The signature does not match.
    #[error(
        "invalid signature for '{signed}': check that the auth endpoint uses this app's secret"
    )]
    BadSignature {
        /// The string the server expected to have been signed.
        signed: String,
    },
}

/// The string a client's auth endpoint signs for a channel subscription.
pub fn channel_string_to_sign(
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The string a client's user-auth endpoint signs for `pusher:signin`.
pub fn user_string_to_sign(socket_id: &str, user_data: &str) -> String {
    format!("{socket_id}::user::{user_data}")
}

/// Checks `auth` (`key:signature`) against the app's key and secret for `string_to_sign`.
pub fn verify_token(
    app_key: &str,
    app_secret: &str,
    string_to_sign: &str,
    auth: Option<&str>,
) -> Result<(), TokenError> {
    let auth = auth.filter(|a| !a.is_empty()).ok_or(TokenError::Missing)?;
    let (key, signature_hex) = auth.rsplit_once(':').ok_or_else(|| TokenError::Malformed {
        given: auth.chars().take(80).collect(),
    })?;
    // Pusher's protocol page once showed `key::user::sig` for sign-in; accept a trailing
    // `::user:` on the key part too.
    let key = key.strip_suffix("::user:").unwrap_or(key);
    if key != app_key {
        return Err(TokenError::WrongKey {
            given: key.chars().take(80).collect(),
        });
    }
    if signature::verify(app_secret, string_to_sign.as_bytes(), signature_hex) {
        Ok(())
    } else {
        Err(TokenError::BadSignature {
            signed: string_to_sign.chars().take(300).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    fn check(auth: Option<&str>, channel: &str, data: Option<&str>, expected: Result<(), &str>) {
        let to_sign = channel_string_to_sign("1234.1234", channel, data);
        match (verify_token(KEY, SECRET, &to_sign, auth), expected) {
            (Ok(()), Ok(())) => {}
            (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{err}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn channel_tokens() {
        let good =
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";
        check(Some(good), "private-foobar", None, Ok(()));
        check(
            Some(good),
            "private-other",
            None,
            Err("invalid signature for '1234.1234:private-other'"),
        );
        check(None, "private-foobar", None, Err("auth is missing"));
        check(Some(""), "private-foobar", None, Err("auth is missing"));
        check(
            Some("nocolon"),
            "private-foobar",
            None,
            Err("not in the form"),
        );
        check(
            Some("wrongkey:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"),
            "private-foobar",
            None,
            Err("auth key 'wrongkey'"),
        );
        let presence =
            "278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c";
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Pusher"}}"#;
        check(Some(presence), "presence-foobar", Some(data), Ok(()));
        check(
            Some(presence),
            "presence-foobar",
            Some(r#"{"user_id":11}"#),
            Err("invalid signature"),
        );
    }

    #[test]
    fn user_tokens() {
        let to_sign = user_string_to_sign("1234.1234", r#"{"id":"12345"}"#);
        let sig = "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba";
        assert_eq!(
            verify_token(KEY, SECRET, &to_sign, Some(&format!("{KEY}:{sig}"))),
            Ok(())
        );
        assert_eq!(
            verify_token(KEY, SECRET, &to_sign, Some(&format!("{KEY}::user::{sig}"))),
            Ok(())
        );
    }

    #[test]
    fn errors_never_contain_the_secret() {
        let err = verify_token(KEY, SECRET, "x", Some(&format!("{KEY}:00"))).unwrap_err();
        assert!(!err.to_string().contains(SECRET));
    }
}
