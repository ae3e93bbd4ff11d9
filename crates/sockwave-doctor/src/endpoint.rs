//! Where a side reaches the server: scheme, host, port and an optional path prefix, plus the
//! URLs the live checks open from it.

use std::fmt;

/// Characters escaped in a key inside the socket path: all but RFC 3986 unreserved ones.
const KEY_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `http`/`ws` or `https`/`wss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// Parses `http`/`https` (and the WebSocket spellings), case-insensitively.
    pub fn parse(text: &str) -> Option<Scheme> {
        match text.to_ascii_lowercase().as_str() {
            "http" | "ws" => Some(Scheme::Http),
            "https" | "wss" => Some(Scheme::Https),
            _ => None,
        }
    }

    /// The conventional port: 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// One address of the server, as one side uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Plain or TLS.
    pub scheme: Scheme,
    /// Host name or IP address, without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Empty, or a prefix such as `/ws` in front of `/app` and `/apps`.
    pub path_prefix: String,
}

/// Why a `--url` / `--browser-url` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `http(s)://host[:port][/prefix]`.
    #[error("'{0}' is not a URL like http://127.0.0.1:6001 or https://ws.example.com")]
    Malformed(String),
}

impl Endpoint {
    /// Parses `scheme://host[:port][/prefix]` with scheme http, https, ws or wss.
    pub fn parse_url(text: &str) -> Result<Endpoint, UrlError> {
        let malformed = || UrlError::Malformed(text.to_string());
        let url = url::Url::parse(text).map_err(|_| malformed())?;
        let scheme = Scheme::parse(url.scheme()).ok_or_else(malformed)?;
        let host = match url.host().ok_or_else(malformed)? {
            url::Host::Domain(name) => name.to_string(),
            url::Host::Ipv4(address) => address.to_string(),
            url::Host::Ipv6(address) => address.to_string(),
        };
        if url.query().is_some() || !url.username().is_empty() {
            return Err(malformed());
        }
        Ok(Endpoint {
            scheme,
            host,
            port: url.port().unwrap_or(scheme.default_port()),
            path_prefix: url.path().trim_end_matches('/').to_string(),
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The base HTTP URL, e.g. `http://127.0.0.1:6001/prefix`.
    pub fn http_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}{}", self.authority(), self.path_prefix)
    }

    /// The base WebSocket URL, e.g. `wss://ws.example.com:443`.
    pub fn ws_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "ws",
            Scheme::Https => "wss",
        };
        format!("{scheme}://{}{}", self.authority(), self.path_prefix)
    }

    /// The WebSocket URL pusher-js opens for `key`.
    pub fn socket_url(&self, key: &str) -> String {
        let key = percent_encoding::utf8_percent_encode(key, KEY_ESCAPES);
        format!(
            "{}/app/{key}?protocol=7&client=js&version=8.4.0&flash=false",
            self.ws_url()
        )
    }

    /// Whether the host is this machine (so a browser on it reaches the same place).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.http_url())
    }
}

/// `localhost`, `127.x.x.x` or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.starts_with("127.") || host == "::1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let endpoint = Endpoint::parse_url("https://ws.example.com/sock/").unwrap();
        assert_eq!(endpoint.port, 443);
        assert_eq!(endpoint.path_prefix, "/sock");
        assert_eq!(
            endpoint.socket_url("app-key"),
            "wss://ws.example.com:443/sock/app/app-key?protocol=7&client=js&version=8.4.0&flash=false"
        );
        let endpoint = Endpoint::parse_url("http://[::1]:6001").unwrap();
        assert_eq!(endpoint.http_url(), "http://[::1]:6001");
        assert!(Endpoint::parse_url("127.0.0.1:6001").is_err());
        assert!(Endpoint::parse_url("http://host:abc").is_err());
    }
}
