//! Signed Pusher HTTP API calls as a backend SDK makes them: `auth_key`, `auth_timestamp`,
//! `auth_version`, `body_md5` and the HMAC over method, path and sorted query. The path is
//! signed without any deployment prefix, as pusher-http-php does. Reading a refusal is
//! `refusal`'s job.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::endpoint::Endpoint;
use sockwave_protocol::auth::api_auth::{body_md5, string_to_sign};
use sockwave_protocol::auth::signature::sign;

/// An answer from the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) status: u16,
    /// The body, as text.
    pub(crate) body: String,
}

/// A client for one app on one endpoint.
pub(crate) struct Api {
    client: reqwest::Client,
    endpoint: Endpoint,
    app_id: String,
    key: String,
    secret: String,
}

impl Api {
    /// A client whose every request is bounded by `limit`.
    pub(crate) fn new(
        endpoint: &Endpoint,
        app_id: &str,
        key: &str,
        secret: &str,
        limit: Duration,
    ) -> Result<Api, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(limit)
            .connect_timeout(limit)
            .build()?;
        Ok(Api {
            client,
            endpoint: endpoint.clone(),
            app_id: app_id.to_string(),
            key: key.to_string(),
            secret: secret.to_string(),
        })
    }

    /// The path of an API route of this app, as signed (without any prefix).
    pub(crate) fn path(&self, route: &str) -> String {
        format!("/apps/{}/{route}", self.app_id)
    }

    /// `GET /apps/{id}/channels`.
    pub(crate) async fn channels(&self) -> Result<Reply, reqwest::Error> {
        self.send(reqwest::Method::GET, &self.path("channels"), None)
            .await
    }

    /// `POST /apps/{id}/events` with one event on one channel.
    pub(crate) async fn publish(
        &self,
        channel: &str,
        event: &str,
        data: &str,
    ) -> Result<Reply, reqwest::Error> {
        let body =
            serde_json::json!({ "name": event, "channel": channel, "data": data }).to_string();
        self.send(reqwest::Method::POST, &self.path("events"), Some(body))
            .await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Reply, reqwest::Error> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut query = vec![
            ("auth_key".to_string(), self.key.clone()),
            ("auth_timestamp".to_string(), timestamp.to_string()),
            ("auth_version".to_string(), "1.0".to_string()),
        ];
        if let Some(body) = &body {
            query.push(("body_md5".to_string(), body_md5(body.as_bytes())));
        }
        let signature = sign(
            &self.secret,
            string_to_sign(method.as_str(), path, &query).as_bytes(),
        );
        query.push(("auth_signature".to_string(), signature));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&query)
            .finish();
        let url = format!("{}{path}?{query}", self.endpoint.http_url());
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok(Reply { status, body })
    }
}
