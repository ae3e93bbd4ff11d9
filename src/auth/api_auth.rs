//! Verifying a signed HTTP API request (Pusher "auth_signature", see
//! `../shared/PROTOCOL.md` §8.2): key, version, timestamp window, `body_md5` and the HMAC over
//! `METHOD\npath\nsorted_lowercased_query`.
//!
//! Pure: the caller passes the decoded query parameters, the body and the current time.

use std::time::Duration;

use md5::{Digest, Md5};

use super::signature;

/// A request as the verifier sees it.
#[derive(Debug, Clone)]
pub struct ApiRequest<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// Path as the SDK signs it: `/apps/{id}/...`, without any deployment prefix.
    pub path: &'a str,
    /// The path as received, when it differs from `path` (a deployment prefix was stripped).
    /// Some SDKs sign the prefixed path; both are accepted.
    pub received_path: Option<&'a str>,
    /// Query parameters, percent-decoded, in received order.
    pub query: &'a [(String, String)],
    /// The raw body.
    pub body: &'a [u8],
}

/// The credentials and policy a request is checked against. Not `Debug`, so the secret
/// cannot end up in a log line by accident.
#[derive(Clone, Copy)]
pub struct ApiCredentials<'a> {
    /// The app id in the route, for messages.
    pub app_id: &'a str,
    /// The app key `auth_key` must equal.
    pub key: &'a str,
    /// The app secret.
    pub secret: &'a str,
    /// Accepted distance between `auth_timestamp` and `now`.
    pub timestamp_window: Duration,
}

/// Why a signed request was refused. Each message says what to fix; none contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiAuthError {
    /// A required query parameter is absent.
    #[error(
        "missing query parameter '{0}': requests must be signed as the Pusher HTTP API specifies"
    )]
    MissingParam(&'static str),
    /// `auth_key` is not the key of the app in the path.
    #[error("auth_key '{given}' is not the key of app '{app_id}'")]
    WrongKey {
        /// The key sent.
        given: String,
        /// The app in the route.
        app_id: String,
    },
    /// `auth_version` is not `1.0`.
    #[error("auth_version '{0}' is not supported: use 1.0")]
    BadVersion(String),
    /// `auth_timestamp` is not an integer.
    #[error("auth_timestamp '{0}' is not a unix timestamp in seconds")]
    BadTimestamp(String),
    /// `auth_timestamp` is too far from the server clock (replay protection).
    #[error("timestamp expired: auth_timestamp {given} is not within {window}s of server time {now}; check the clock of the publishing host")]
    TimestampExpired {
        /// The timestamp sent.
        given: i64,
        /// The server time.
        now: i64,
        /// The window in seconds.
        window: u64,
    },
    /// The request has a body but no `body_md5`.
    #[error("missing query parameter 'body_md5': requests with a body must sign its MD5")]
    BodyMd5Missing,
    /// `body_md5` does not match the body.
    #[error("body_md5 '{given}' does not match the body received (md5 {actual}): the body was changed after signing")]
    BodyMd5Mismatch {
        /// The value sent.
        given: String,
        /// The MD5 of the body received.
        actual: String,
    },
    /// The signature does not match.
    #[error("signature mismatch: check the secret for app '{app_id}' (expected HMAC-SHA256 of \"{string_to_sign}\")")]
    BadSignature {
        /// The app in the route.
        app_id: String,
        /// The string the server signed, with `\n` escaped, so SDK authors can compare.
        string_to_sign: String,
    },
}

/// Lowercase hex MD5 of a body, as `body_md5` carries it.
pub fn body_md5(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// The string to sign: method, path and the sorted, lower-cased query without
/// `auth_signature`, values not re-escaped.
pub fn string_to_sign(method: &str, path: &str, query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, &str)> = query
        .iter()
        .filter(|(key, _)| !key.eq_ignore_ascii_case("auth_signature"))
        .map(|(key, value)| (key.to_ascii_lowercase(), value.as_str()))
        .collect();
    pairs.sort();
    let query_string = pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}\n{path}\n{query_string}")
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Verifies a signed request. `now_unix` is the server time in seconds.
pub fn verify_request(
    request: &ApiRequest<'_>,
    credentials: &ApiCredentials<'_>,
    now_unix: i64,
) -> Result<(), ApiAuthError> {
    let query = request.query;
    let key = param(query, "auth_key").ok_or(ApiAuthError::MissingParam("auth_key"))?;
    if key != credentials.key {
        return Err(ApiAuthError::WrongKey {
            given: key.chars().take(80).collect(),
            app_id: credentials.app_id.to_string(),
        });
    }
    let signature_hex =
        param(query, "auth_signature").ok_or(ApiAuthError::MissingParam("auth_signature"))?;
    let version = param(query, "auth_version").ok_or(ApiAuthError::MissingParam("auth_version"))?;
    if version != "1.0" {
        return Err(ApiAuthError::BadVersion(version.chars().take(20).collect()));
    }
    let timestamp =
        param(query, "auth_timestamp").ok_or(ApiAuthError::MissingParam("auth_timestamp"))?;
    let timestamp: i64 = timestamp
        .parse()
        .map_err(|_| ApiAuthError::BadTimestamp(timestamp.chars().take(20).collect()))?;
    let window = credentials.timestamp_window.as_secs();
    if timestamp.abs_diff(now_unix) > window {
        return Err(ApiAuthError::TimestampExpired {
            given: timestamp,
            now: now_unix,
            window,
        });
    }
    match param(query, "body_md5") {
        Some(given) => {
            let actual = body_md5(request.body);
            if !given.eq_ignore_ascii_case(&actual) {
                return Err(ApiAuthError::BodyMd5Mismatch {
                    given: given.chars().take(40).collect(),
                    actual,
                });
            }
        }
        None if !request.body.is_empty() => return Err(ApiAuthError::BodyMd5Missing),
        None => {}
    }
    let signed = string_to_sign(request.method, request.path, query);
    if signature::verify(credentials.secret, signed.as_bytes(), signature_hex) {
        return Ok(());
    }
    if let Some(received_path) = request.received_path {
        let signed_with_prefix = string_to_sign(request.method, received_path, query);
        if signature::verify(
            credentials.secret,
            signed_with_prefix.as_bytes(),
            signature_hex,
        ) {
            return Ok(());
        }
    }
    Err(ApiAuthError::BadSignature {
        app_id: credentials.app_id.to_string(),
        string_to_sign: signed.replace('\n', "\\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
    const NOW: i64 = 1353088179;

    fn creds() -> ApiCredentials<'static> {
        ApiCredentials {
            app_id: "3",
            key: "278d425bdf160c739803",
            secret: "7ad3773142a6692b25b8",
            timestamp_window: Duration::from_secs(600),
        }
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn doc_query() -> Vec<(String, String)> {
        query(&[
            ("auth_key", "278d425bdf160c739803"),
            ("auth_timestamp", "1353088179"),
            ("auth_version", "1.0"),
            ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
            (
                "auth_signature",
                "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
            ),
        ])
    }

    fn check(q: &[(String, String)], body: &str, now: i64, expected: Result<(), &str>) {
        let request = ApiRequest {
            method: "POST",
            path: "/apps/3/events",
            received_path: None,
            query: q,
            body: body.as_bytes(),
        };
        match (verify_request(&request, &creds(), now), expected) {
            (Ok(()), Ok(())) => {}
            (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{err}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn pusher_doc_vector() {
        assert_eq!(
            body_md5(BODY.as_bytes()),
            "ec365a775a4cd0599faeb73354201b6f"
        );
        assert_eq!(
            string_to_sign("POST", "/apps/3/events", &doc_query()),
            "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
        );
        check(&doc_query(), BODY, NOW, Ok(()));
    }

    #[test]
    fn keys_are_lowercased_and_sorted() {
        let mut q = doc_query();
        q.reverse();
        q[1].0 = "BODY_MD5".to_string();
        assert_eq!(
            string_to_sign("POST", "/p", &q),
            string_to_sign("POST", "/p", &doc_query())
        );
    }

    #[test]
    fn refusals() {
        check(&doc_query(), BODY, NOW + 601, Err("timestamp expired"));
        check(&doc_query(), BODY, NOW - 601, Err("not within 600s"));
        check(&doc_query(), BODY, NOW + 600, Ok(()));
        check(&doc_query(), r#"{"name":"bar"}"#, NOW, Err("body_md5"));
        let mut wrong_key = doc_query();
        wrong_key[0].1 = "abc".into();
        check(
            &wrong_key,
            BODY,
            NOW,
            Err("auth_key 'abc' is not the key of app '3'"),
        );
        let mut bad_sig = doc_query();
        bad_sig[4].1 = "00".repeat(32);
        check(
            &bad_sig,
            BODY,
            NOW,
            Err("signature mismatch: check the secret for app '3'"),
        );
        let no_md5: Vec<_> = doc_query()
            .into_iter()
            .filter(|(k, _)| k != "body_md5")
            .collect();
        check(
            &no_md5,
            BODY,
            NOW,
            Err("requests with a body must sign its MD5"),
        );
        let no_sig: Vec<_> = doc_query()
            .into_iter()
            .filter(|(k, _)| k != "auth_signature")
            .collect();
        check(
            &no_sig,
            BODY,
            NOW,
            Err("missing query parameter 'auth_signature'"),
        );
        let mut version = doc_query();
        version[2].1 = "2.0".into();
        check(&version, BODY, NOW, Err("auth_version '2.0'"));
    }

    #[test]
    fn prefixed_path_is_accepted_either_way() {
        let q = doc_query();
        let request = ApiRequest {
            method: "POST",
            path: "/other",
            received_path: Some("/apps/3/events"),
            query: &q,
            body: BODY.as_bytes(),
        };
        assert_eq!(verify_request(&request, &creds(), NOW), Ok(()));
    }
}
