//! Recognising pusher-js's HTTP transport URLs.
//!
//! pusher-js builds them from `httpPath` (default `/pusher`), the app key, a session it
//! makes up (`<0-999>/<8 base-32 characters>`) and the request kind:
//! `{httpPath}/app/{key}/{server}/{session}/xhr_streaming` (the stream),
//! `…/xhr` (one long poll) and `…/xhr_send` (messages from the client). The server's path
//! prefix is already stripped; `/pusher` may be there or not (a proxy may strip it too).

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `xhr_streaming`: a response that stays open and carries every line.
    Streaming,
    /// `xhr`: a response that ends after the next line (long polling).
    Polling,
    /// `xhr_send`: client messages in the body.
    Send,
}

impl Kind {
    /// The transport's name as pusher-js reports it.
    pub(crate) fn transport(self) -> &'static str {
        match self {
            Kind::Streaming => "xhr_streaming",
            Kind::Polling | Kind::Send => "xhr_polling",
        }
    }
}

/// A parsed transport URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub(crate) app_key: &'a str,
    /// `server/session`, unique per client (together with the key).
    pub(crate) session: &'a str,
    pub(crate) kind: Kind,
}

/// Longest session part accepted (pusher-js makes 3 + 1 + 8 characters).
const MAX_SESSION_PART: usize = 32;

/// The transport request `path` names, if it is one.
pub(crate) fn parse(path: &str) -> Option<Target<'_>> {
    let rest = path.strip_prefix("/pusher").unwrap_or(path);
    let rest = rest.strip_prefix("/app/")?;
    let (head, kind) = rest.rsplit_once('/')?;
    let kind = match kind {
        "xhr_streaming" => Kind::Streaming,
        "xhr" => Kind::Polling,
        "xhr_send" => Kind::Send,
        _ => return None,
    };
    let (key_and_server, session_part) = head.rsplit_once('/')?;
    let (app_key, server) = key_and_server.rsplit_once('/')?;
    let session = &head[app_key.len() + 1..];
    let word = |part: &str| {
        !part.is_empty()
            && part.len() <= MAX_SESSION_PART
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if app_key.is_empty() || app_key.contains('/') || !word(server) || !word(session_part) {
        return None;
    }
    Some(Target {
        app_key,
        session,
        kind,
    })
}

/// Whether `path` has the shape of a transport URL but a part is malformed (so the
/// request gets a clear 404 instead of being taken for a WebSocket upgrade).
pub(crate) fn looks_like_transport(path: &str) -> bool {
    ["/xhr_streaming", "/xhr", "/xhr_send"]
        .iter()
        .any(|kind| path.ends_with(kind))
        && path.contains("/app/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pusher_js_urls() {
        let target = parse("/pusher/app/app-key/123/abcd1234/xhr_streaming").unwrap();
        assert_eq!(target.app_key, "app-key");
        assert_eq!(target.session, "123/abcd1234");
        assert_eq!(target.kind, Kind::Streaming);
        assert_eq!(parse("/app/k/1/x/xhr").unwrap().kind, Kind::Polling);
        assert_eq!(
            parse("/pusher/app/k/1/x/xhr_send").unwrap().kind,
            Kind::Send
        );
    }

    #[test]
    fn malformed_urls() {
        for path in [
            "/pusher/app/k/1/x/ws",
            "/pusher/app/k/1/xhr",
            "/pusher/app//1/x/xhr",
            "/pusher/app/k/a/b/1/x/xhr",
            "/pusher/app/k/1/x.y/xhr",
            "/pusher/app/k/1/%2e%2e/xhr",
            "/app/k",
            "/pusher/app/k/1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/xhr",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
        assert!(looks_like_transport("/pusher/app/k/1/x.y/xhr"));
        assert!(!looks_like_transport("/app/app-key"));
    }
}
