//! Parsing the `user_data` a client signs in with: `id`, optional `user_info`, optional
//! `watchlist` (at most 100 ids are kept, as Pusher does).

use serde::Deserialize;
use serde_json::value::RawValue;

/// Most watchlist ids kept per sign-in; the rest are dropped with a 4302 error.
pub(crate) const MAX_WATCHLIST: usize = 100;

/// A signed-in user as its `user_data` describes it.
#[derive(Debug, Clone)]
pub(crate) struct SignedInUser {
    /// The user id (a non-empty string; pusher-js refuses numbers).
    pub(crate) id: String,
    /// `user_info`, shared as presence member info when the socket joins a presence channel
    /// without `channel_data`.
    pub(crate) user_info: Option<Box<RawValue>>,
    /// Watched user ids, at most `MAX_WATCHLIST`.
    pub(crate) watchlist: Vec<String>,
    /// How many watchlist ids were dropped over the limit.
    pub(crate) n_dropped: usize,
}

/// Parses signed `user_data`.
pub(crate) fn parse_user_data(user_data: &str) -> Result<SignedInUser, String> {
    #[derive(Deserialize)]
    struct Raw {
        id: Option<serde_json::Value>,
        user_info: Option<Box<RawValue>>,
        watchlist: Option<Vec<serde_json::Value>>,
    }
    let raw: Raw = serde_json::from_str(user_data)
        .map_err(|err| format!("user_data is not a JSON object: {err}"))?;
    let id = match raw.id {
        Some(serde_json::Value::String(id)) if !id.is_empty() => id,
        _ => return Err("user_data must contain a non-empty string id".to_string()),
    };
    let mut watchlist = Vec::new();
    for item in raw.watchlist.unwrap_or_default() {
        match item {
            serde_json::Value::String(id) if !id.is_empty() => watchlist.push(id),
            serde_json::Value::Number(id) => watchlist.push(id.to_string()),
            _ => return Err("watchlist must be an array of user ids".to_string()),
        }
    }
    watchlist.dedup();
    let n_dropped = watchlist.len().saturating_sub(MAX_WATCHLIST);
    watchlist.truncate(MAX_WATCHLIST);
    Ok(SignedInUser {
        id,
        user_info: raw.user_info,
        watchlist,
        n_dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data() {
        let user = parse_user_data(r#"{"id":"42","user_info":{"name":"Ann"},"watchlist":["7",9]}"#)
            .unwrap();
        assert_eq!(
            (user.id.as_str(), user.watchlist.clone(), user.n_dropped),
            ("42", vec!["7".to_string(), "9".to_string()], 0)
        );
        assert_eq!(user.user_info.unwrap().get(), r#"{"name":"Ann"}"#);
        for bad in [
            r#"{"id":42}"#,
            r#"{"id":""}"#,
            r#"{}"#,
            "x",
            r#"{"id":"1","watchlist":[{}]}"#,
        ] {
            assert!(parse_user_data(bad).is_err(), "{bad}");
        }
        let ids: Vec<String> = (0..150).map(|i| format!("\"{i}\"")).collect();
        let user =
            parse_user_data(&format!(r#"{{"id":"1","watchlist":[{}]}}"#, ids.join(","))).unwrap();
        assert_eq!((user.watchlist.len(), user.n_dropped), (100, 50));
    }
}
