//! `sockwave health`: asks a running server's `/ready` whether it takes traffic.
//!
//! It exists for container `HEALTHCHECK`s and exec probes, so that an image needs no curl or
//! wget. It reads the same configuration as the server (file, environment, flags) and asks
//! the port that configuration serves, over `https` when native TLS is on.

use std::time::Duration;

use crate::config::Config;

/// How long the whole check may take. Docker's default health-check timeout is 30 s and
/// Kubernetes' exec probe default is 1 s; a server that needs longer than this to answer
/// `/ready` is not ready.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The `/ready` address the server with this configuration answers on. A wildcard listen
/// address is asked on loopback: the check runs next to the server (same container).
pub fn ready_url(config: &Config) -> String {
    let server = &config.server;
    let host = match server.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        host if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
        host => host.to_string(),
    };
    let scheme = if server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    format!(
        "{scheme}://{host}:{}{}/ready",
        server.port, server.path_prefix
    )
}

/// Asks `url`; `Ok` with the reply when it is 200, otherwise `Err` saying what went wrong.
pub async fn check(url: &str) -> Result<String, String> {
    // The certificate names the public host, not loopback, so it cannot be verified here;
    // the check proves the server answers, and carries no secret.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|err| format!("cannot build an HTTP client: {err}"))?;
    let response = client
        .get(url)
        .send()
        .await
        // `{:#}` prints the error with its causes ("... : Connection refused").
        .map_err(|err| format!("{url}: {:#}", anyhow::Error::new(err)))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body = body.trim();
    if status.is_success() {
        Ok(format!("{url}: {} {body}", status.as_u16()))
    } else {
        Err(format!("{url}: {} {body}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(host: &str, port: u16, prefix: &str, tls: bool) -> String {
        let mut config = Config::default();
        config.server.host = host.to_string();
        config.server.port = port;
        config.server.path_prefix = prefix.to_string();
        if tls {
            config.server.tls_cert = Some("/cert.pem".into());
        }
        ready_url(&config)
    }

    #[test]
    fn wildcard_addresses_are_asked_on_loopback() {
        assert_eq!(
            url("0.0.0.0", 6001, "", false),
            "http://127.0.0.1:6001/ready"
        );
        assert_eq!(url("::", 6001, "", false), "http://[::1]:6001/ready");
    }

    #[test]
    fn host_prefix_and_tls_are_the_servers() {
        assert_eq!(
            url("10.1.2.3", 7000, "/ws", true),
            "https://10.1.2.3:7000/ws/ready"
        );
        assert_eq!(
            url("fe80::1", 6001, "", false),
            "http://[fe80::1]:6001/ready"
        );
    }
}
