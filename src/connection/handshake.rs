//! What a connection request says before any frame is exchanged: the `protocol`, `client`
//! and `version` query parameters, checked as Pusher does.

use sockwave_protocol::{ErrorCode, SUPPORTED_PROTOCOLS};

/// The client's self-description from the connection URL and headers, for logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientMeta {
    /// `client` query parameter, e.g. `js`.
    pub client: Option<String>,
    /// `version` query parameter, e.g. `8.4.0`.
    pub(crate) version: Option<String>,
    /// `protocol` query parameter as sent.
    pub(crate) protocol: Option<String>,
    /// `Origin` header.
    pub(crate) origin: Option<String>,
}

impl ClientMeta {
    /// Reads the query string (without `?`) and the `Origin` header.
    pub fn parse(query: Option<&str>, origin: Option<&str>) -> ClientMeta {
        let mut meta = ClientMeta {
            origin: origin.map(short),
            ..ClientMeta::default()
        };
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "client" => meta.client = Some(short(&value)),
                "version" => meta.version = Some(short(&value)),
                "protocol" => meta.protocol = Some(short(&value)),
                _ => {}
            }
        }
        meta
    }

    /// Checks the protocol version: missing → 4008, not a number → 4006, outside 4–7 → 4007.
    pub fn check_protocol(&self) -> Result<(), (ErrorCode, String)> {
        let Some(protocol) = &self.protocol else {
            return Err((
                ErrorCode::NoProtocolVersion,
                "no protocol version supplied: connect with ?protocol=7".to_string(),
            ));
        };
        let Ok(version) = protocol.parse::<u32>() else {
            return Err((
                ErrorCode::InvalidVersionFormat,
                format!("protocol version '{protocol}' is not a number: connect with ?protocol=7"),
            ));
        };
        if SUPPORTED_PROTOCOLS.contains(&version) {
            Ok(())
        } else {
            Err((
                ErrorCode::UnsupportedProtocol,
                format!(
                    "protocol version {version} is not supported: this server speaks {} to {}",
                    SUPPORTED_PROTOCOLS.start(),
                    SUPPORTED_PROTOCOLS.end()
                ),
            ))
        }
    }
}

fn short(value: &str) -> String {
    value.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expected: Result<(), ErrorCode>) {
        let got = ClientMeta::parse(Some(query), None)
            .check_protocol()
            .map_err(|(code, _)| code);
        assert_eq!(got, expected, "{query}");
    }

    #[test]
    fn protocol_versions() {
        check("protocol=7&client=js&version=8.4.0&flash=false", Ok(()));
        check("protocol=4", Ok(()));
        check("client=js", Err(ErrorCode::NoProtocolVersion));
        check("protocol=abc", Err(ErrorCode::InvalidVersionFormat));
        check("protocol=3", Err(ErrorCode::UnsupportedProtocol));
        check("protocol=8", Err(ErrorCode::UnsupportedProtocol));
    }

    #[test]
    fn reads_client_and_version() {
        let meta = ClientMeta::parse(
            Some("protocol=7&client=js&version=8.4.0"),
            Some("https://a.test"),
        );
        assert_eq!(meta.client.as_deref(), Some("js"));
        assert_eq!(meta.version.as_deref(), Some("8.4.0"));
        assert_eq!(meta.origin.as_deref(), Some("https://a.test"));
    }
}
