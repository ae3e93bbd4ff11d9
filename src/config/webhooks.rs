//! Webhook targets in configuration. sockwave TOML (`[[apps.webhooks]]`), the
//! `SOCKWAVE_APP_WEBHOOKS` JSON and Soketi's app `webhooks` (its JSON file and
//! `SOKETI_DEFAULT_APP_WEBHOOKS`) share one shape — `url`, `event_types`, optional `filter`
//! with `channel_name_starts_with` / `channel_name_ends_with`, optional `headers` — so one
//! serde struct reads them all and one function validates them into `WebhookTarget`s.
//!
//! Every error names the field's source; header values never appear in an error because
//! they often carry credentials.

use std::collections::BTreeMap;

use reqwest::header::{HeaderName, HeaderValue};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::draft::Origin;
use super::error::{closest, ConfigError};
use crate::app::{ChannelFilter, EventType, WebhookTarget, WebhookUrl, RESERVED_HEADERS};

/// Keys of one webhook; must match `RawWebhook`.
pub(crate) const WEBHOOK_KEYS: &[&str] = &[
    "url",
    "event_types",
    "filter",
    "headers",
    "lambda_function",
    "lambda",
];

/// Keys of a webhook's `filter`; must match `RawFilter`.
pub(crate) const FILTER_KEYS: &[&str] = &["channel_name_starts_with", "channel_name_ends_with"];

/// One webhook as written in any source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    filter: Option<RawFilter>,
    headers: Option<BTreeMap<String, String>>,
    /// Soketi can invoke an AWS Lambda function instead of a URL; sockwave cannot.
    lambda_function: Option<IgnoredAny>,
    lambda: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    channel_name_starts_with: Option<String>,
    channel_name_ends_with: Option<String>,
}

/// Validates webhooks; `origin_of(index, field)` names where a webhook's field came from.
pub(crate) fn targets(
    raws: Vec<RawWebhook>,
    origin_of: &dyn Fn(usize, &str) -> Origin,
) -> Result<Vec<WebhookTarget>, ConfigError> {
    raws.into_iter()
        .enumerate()
        .map(|(index, raw)| target(raw, &|field| origin_of(index, field)))
        .collect()
}

/// Reads webhooks from JSON: an array, or (as Soketi's variables carry it) a string holding
/// one. `origin` names the whole list; fields are named below it.
pub(crate) fn from_json(value: &Value, origin: &Origin) -> Result<Vec<WebhookTarget>, ConfigError> {
    let decoded;
    let value = match value {
        Value::String(text) => {
            decoded = serde_json::from_str::<Value>(text).map_err(|err| ConfigError::Invalid {
                origin: origin.clone(),
                value: "(webhooks)".to_string(),
                reason: format!("expected a JSON array of webhook objects: {err}"),
            })?;
            &decoded
        }
        value => value,
    };
    let Value::Array(items) = value else {
        return Err(ConfigError::Invalid {
            origin: origin.clone(),
            value: "(webhooks)".to_string(),
            reason: "expected an array of webhook objects".to_string(),
        });
    };
    let origin_of = |index: usize, field: &str| below(origin, index, field);
    let mut raws = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let raw = serde_json::from_value(item.clone()).map_err(|err| ConfigError::Invalid {
            origin: origin.clone(),
            value: format!("webhook #{index}"),
            reason: err.to_string(),
        })?;
        raws.push(raw);
    }
    targets(raws, &origin_of)
}

/// The origin of one webhook field below a list's origin: a longer key for files, the same
/// variable for the environment (the reason then names the field).
fn below(origin: &Origin, index: usize, field: &str) -> Origin {
    match origin {
        Origin::File { path, key } => Origin::file(path, format!("{key}.{index}.{field}")),
        other => other.clone(),
    }
}

fn target(
    raw: RawWebhook,
    origin_of: &dyn Fn(&str) -> Origin,
) -> Result<WebhookTarget, ConfigError> {
    let invalid = |field: &str, value: String, reason: String| {
        let origin = origin_of(field);
        let reason = match origin {
            Origin::Env { .. } => format!("{field}: {reason}"),
            _ => reason,
        };
        ConfigError::Invalid {
            origin,
            value,
            reason,
        }
    };
    if raw.lambda_function.is_some() || raw.lambda.is_some() {
        let field = if raw.lambda_function.is_some() {
            "lambda_function"
        } else {
            "lambda"
        };
        return Err(ConfigError::Unsupported {
            origin: origin_of(field),
            accepted: None,
        });
    }
    let url = raw.url.ok_or_else(|| ConfigError::Missing {
        origin: origin_of("url"),
    })?;
    let url = WebhookUrl::new(url);
    check_url(url.as_str())
        .map_err(|reason| invalid("url", format!("'{url}'"), reason.to_string()))?;

    let names = raw.event_types.ok_or_else(|| ConfigError::Missing {
        origin: origin_of("event_types"),
    })?;
    if names.is_empty() {
        let reason = "lists no event types, so this webhook would never be sent";
        return Err(invalid("event_types", "[]".to_string(), reason.to_string()));
    }
    let mut event_types = Vec::with_capacity(names.len());
    for name in names {
        let Some(kind) = EventType::parse(&name) else {
            let known = EventType::ALL.map(EventType::name);
            let mut reason = format!("unknown event type; expected one of {}", known.join(", "));
            if let Some(suggestion) = closest(&name, known) {
                reason.push_str(&format!(" (did you mean '{suggestion}'?)"));
            }
            return Err(invalid("event_types", format!("'{name}'"), reason));
        };
        if !event_types.contains(&kind) {
            event_types.push(kind);
        }
    }

    // Soketi treats an empty prefix or suffix as "no filter"; so does sockwave.
    let non_empty = |text: Option<String>| text.filter(|text| !text.is_empty());
    let filter = raw
        .filter
        .map_or_else(ChannelFilter::default, |filter| ChannelFilter {
            starts_with: non_empty(filter.channel_name_starts_with),
            ends_with: non_empty(filter.channel_name_ends_with),
        });

    let mut headers = Vec::new();
    for (name, value) in raw.headers.unwrap_or_default() {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(
                "headers",
                format!("'{name}'"),
                "not a valid HTTP header name".to_string(),
            ));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            let reason =
                "sockwave sets this header on every webhook request; it cannot be replaced";
            return Err(invalid("headers", format!("'{name}'"), reason.to_string()));
        }
        if HeaderValue::from_str(&value).is_err() {
            let reason = format!("the value of header '{name}' is not a valid HTTP header value");
            return Err(invalid("headers", "(hidden)".to_string(), reason));
        }
        headers.push((name, value));
    }
    Ok(WebhookTarget {
        url,
        event_types,
        filter,
        headers,
    })
}

fn check_url(url: &str) -> Result<(), &'static str> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| "expected an absolute http:// or https:// URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("only http:// and https:// webhook URLs are supported");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host");
    }
    Ok(())
}
