//! Verifying a signed HTTP API request (Pusher "auth_signature", see
//! `../shared/PROTOCOL.md` §8.2): key, version, timestamp window, `body_md5` and the HMAC over
//! `METHOD\npath\nsorted_lowercased_query`.
//!
//! The check runs in two steps so a server can refuse a request before reading its body:
//! `verify_head` checks everything the signature covers — the query includes `body_md5` —
//! and `BodyCheck::verify` then compares the body with the signed hash. Parameter names are
//! interpreted in the lower-cased form that was signed (`canonical_query`), so changing a
//! name's case in a captured request cannot change what the request means.
//!
//! Pure: the caller passes the decoded query parameters, the body and the current time.

use std::time::Duration;

use md5::{Digest, Md5};

use super::signature;

/// A request's head as the verifier sees it: everything but the body.
#[derive(Debug, Clone)]
pub struct ApiRequestHead<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// Path as the SDK signs it: `/apps/{id}/...`, without any deployment prefix.
    pub path: &'a str,
    /// The path as received, when it differs from `path` (a deployment prefix was stripped).
    /// Some SDKs sign the prefixed path; both are accepted.
    pub received_path: Option<&'a str>,
    /// Query parameters in canonical form (`canonical_query`).
    pub query: &'a [(String, String)],
    /// Whether a body follows (a non-zero `Content-Length`, or a chunked body).
    pub has_body: bool,
}

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
    /// Query parameters in canonical form (`canonical_query`).
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
    /// A parameter appears twice (names compared as signed, lower-cased).
    #[error("query parameter '{0}' appears more than once: send each parameter once")]
    DuplicateParam(String),
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

/// The query as the signature sees it: parameter names lower-cased, values as sent. A name
/// that appears twice is refused: the signature sorts the pairs, so which of the two a server
/// would read is not something the signer decided.
pub fn canonical_query(
    query: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, ApiAuthError> {
    let mut canonical: Vec<(String, String)> = Vec::with_capacity(query.len());
    for (name, value) in query {
        let name = name.to_ascii_lowercase();
        if canonical.iter().any(|(seen, _)| *seen == name) {
            return Err(ApiAuthError::DuplicateParam(
                name.chars().take(40).collect(),
            ));
        }
        canonical.push((name, value));
    }
    Ok(canonical)
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// What is left to check once the head verified: the body against the signed `body_md5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyCheck {
    md5: Option<String>,
}

impl BodyCheck {
    /// Whether a body may follow at all: without a signed `body_md5` only an empty one may.
    pub fn allows_body(&self) -> bool {
        self.md5.is_some()
    }

    /// Compares the body with the signed hash.
    pub fn verify(&self, body: &[u8]) -> Result<(), ApiAuthError> {
        match &self.md5 {
            Some(given) => {
                let actual = body_md5(body);
                if given.eq_ignore_ascii_case(&actual) {
                    Ok(())
                } else {
                    Err(ApiAuthError::BodyMd5Mismatch {
                        given: given.chars().take(40).collect(),
                        actual,
                    })
                }
            }
            None if body.is_empty() => Ok(()),
            None => Err(ApiAuthError::BodyMd5Missing),
        }
    }
}

/// Verifies everything a signature covers without the body: key, version, timestamp window
/// and the HMAC over the query (which carries `body_md5`). `now_unix` is the server time in
/// seconds. The body is checked afterwards with the returned `BodyCheck`.
pub fn verify_head(
    head: &ApiRequestHead<'_>,
    credentials: &ApiCredentials<'_>,
    now_unix: i64,
) -> Result<BodyCheck, ApiAuthError> {
    let query = head.query;
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
    let body_check = BodyCheck {
        md5: param(query, "body_md5").map(str::to_string),
    };
    if head.has_body && !body_check.allows_body() {
        return Err(ApiAuthError::BodyMd5Missing);
    }
    let signed = string_to_sign(head.method, head.path, query);
    if signature::verify(credentials.secret, signed.as_bytes(), signature_hex) {
        return Ok(body_check);
    }
    if let Some(received_path) = head.received_path {
        let signed_with_prefix = string_to_sign(head.method, received_path, query);
        if signature::verify(
            credentials.secret,
            signed_with_prefix.as_bytes(),
            signature_hex,
        ) {
            return Ok(body_check);
        }
    }
    Err(ApiAuthError::BadSignature {
        app_id: credentials.app_id.to_string(),
        string_to_sign: signed.replace('\n', "\\n"),
    })
}

/// Verifies a whole signed request: the head, then the body. `now_unix` is the server time
/// in seconds.
pub fn verify_request(
    request: &ApiRequest<'_>,
    credentials: &ApiCredentials<'_>,
    now_unix: i64,
) -> Result<(), ApiAuthError> {
    let head = ApiRequestHead {
        method: request.method,
        path: request.path,
        received_path: request.received_path,
        query: request.query,
        has_body: !request.body.is_empty(),
    };
    verify_head(&head, credentials, now_unix)?.verify(request.body)
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
    fn names_are_read_as_signed() {
        let sent = query(&[("FILTER_BY_PREFIX", "news"), ("Auth_Key", "k")]);
        assert_eq!(
            canonical_query(sent),
            Ok(query(&[("filter_by_prefix", "news"), ("auth_key", "k")]))
        );
        let twice = query(&[("filter_by_prefix", "a"), ("FILTER_BY_PREFIX", "b")]);
        assert_eq!(
            canonical_query(twice),
            Err(ApiAuthError::DuplicateParam("filter_by_prefix".into()))
        );
    }

    #[test]
    fn the_head_is_verified_before_the_body() {
        let q = doc_query();
        let head = |has_body| ApiRequestHead {
            method: "POST",
            path: "/apps/3/events",
            received_path: None,
            query: &q,
            has_body,
        };
        let body_check = verify_head(&head(true), &creds(), NOW).unwrap();
        assert_eq!(body_check.verify(BODY.as_bytes()), Ok(()));
        assert!(matches!(
            body_check.verify(b"changed"),
            Err(ApiAuthError::BodyMd5Mismatch { .. })
        ));
        // A body announced without a signed hash is refused before it is read.
        let no_md5: Vec<_> = q.iter().filter(|(k, _)| k != "body_md5").cloned().collect();
        let head = ApiRequestHead {
            query: &no_md5,
            ..head(true)
        };
        assert_eq!(
            verify_head(&head, &creds(), NOW),
            Err(ApiAuthError::BodyMd5Missing)
        );
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
