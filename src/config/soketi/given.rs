//! Reading Soketi's loosely typed JSON values, with errors that name their origin.

use serde_json::Value;

use super::names::Accepted;
use crate::config::draft::Origin;
use crate::config::error::ConfigError;

/// A JSON value and where it came from, with conversions that accept what Soketi accepts
/// (numbers written as strings, `1`/`0` for booleans) and name the origin when they fail.
#[derive(Clone, Copy)]
pub(super) struct Given<'a> {
    pub(super) value: &'a Value,
    pub(super) origin: &'a Origin,
}

impl Given<'_> {
    pub(super) fn invalid(&self, reason: &str) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.clone(),
            value: self.value.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(super) fn unsupported(&self, accepted: Option<&str>) -> ConfigError {
        ConfigError::Unsupported {
            origin: self.origin.clone(),
            accepted: accepted.map(String::from),
        }
    }

    pub(super) fn text(&self) -> Result<String, ConfigError> {
        match self.value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            _ => Err(self.invalid("expected a string")),
        }
    }

    pub(super) fn texts(&self) -> Result<Vec<String>, ConfigError> {
        match self.value {
            Value::String(text) => Ok(vec![text.clone()]),
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(String::from))
                .collect::<Option<_>>()
                .ok_or_else(|| self.invalid("expected an array of strings")),
            _ => Err(self.invalid("expected an array of strings")),
        }
    }

    /// ioredis' node lists (sentinels, Redis Cluster startup nodes) as `host:port`s: an array
    /// of `{"host", "port"}` objects or `host:port` strings; one comma-separated string is
    /// taken too. `null` is an empty list.
    pub(super) fn host_ports(&self, each: &str) -> Result<Vec<String>, ConfigError> {
        let shape = "expected a JSON array of {\"host\", \"port\"}";
        let items: Vec<Value> = match self.value {
            Value::Null => Vec::new(),
            Value::Array(items) => items.clone(),
            Value::String(text) => text
                .split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .map(|node| Value::String(node.to_string()))
                .collect(),
            _ => return Err(self.invalid(shape)),
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                Value::Object(fields) => {
                    let host = fields.get("host").and_then(Value::as_str);
                    let port = fields.get("port").and_then(|port| match port {
                        Value::Number(n) => n.as_u64(),
                        Value::String(s) => s.parse().ok(),
                        _ => None,
                    });
                    match (host, port) {
                        (Some(host), Some(port)) => Ok(format!("{host}:{port}")),
                        _ => Err(self.invalid(&format!("each {each} needs a host and a port"))),
                    }
                }
                _ => Err(self.invalid(shape)),
            })
            .collect()
    }

    pub(super) fn flag(&self) -> Result<bool, ConfigError> {
        match self.value {
            Value::Bool(flag) => Ok(*flag),
            Value::Number(number) if number.as_u64() == Some(1) => Ok(true),
            Value::Number(number) if number.as_u64() == Some(0) => Ok(false),
            Value::String(text) if text == "true" || text == "1" => Ok(true),
            Value::String(text) if text == "false" || text == "0" => Ok(false),
            _ => Err(self.invalid("expected true or false")),
        }
    }

    pub(super) fn number(&self) -> Result<f64, ConfigError> {
        let number = match self.value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        number
            .filter(|n| n.is_finite())
            .ok_or_else(|| self.invalid("expected a number"))
    }

    pub(super) fn whole(&self) -> Result<u64, ConfigError> {
        let number = self.number()?;
        if number >= 0.0 && number.fract() == 0.0 && number <= u64::MAX as f64 {
            Ok(number as u64)
        } else {
            Err(self.invalid("expected a whole number, 0 or more"))
        }
    }

    pub(super) fn port(&self) -> Result<u16, ConfigError> {
        let port = self.whole().ok().and_then(|n| u16::try_from(n).ok());
        port.ok_or_else(|| self.invalid("expected a port number (0-65535)"))
    }

    /// Ok when the value is one of `accepted`; otherwise "not supported" naming them.
    pub(super) fn expect(&self, accepted: &[Accepted]) -> Result<(), ConfigError> {
        if accepted.iter().any(|a| self.matches(*a)) {
            return Ok(());
        }
        let shown: Vec<String> = accepted.iter().map(|a| shown(*a)).collect();
        Err(ConfigError::Unsupported {
            origin: self.origin.clone(),
            accepted: (!shown.is_empty()).then(|| shown.join(" or ")),
        })
    }

    fn matches(&self, accepted: Accepted) -> bool {
        match accepted {
            Accepted::Text(text) => self.value.as_str() == Some(text),
            Accepted::Number(n) => self.number().ok() == Some(n),
            Accepted::SoketiDefault(json) => {
                let default: Value = serde_json::from_str(json).expect("a JSON default");
                same_json(self.value, &default)
            }
        }
    }
}

fn shown(accepted: Accepted) -> String {
    match accepted {
        Accepted::Text(text) => format!("{text:?}"),
        Accepted::Number(n) => n.to_string(),
        Accepted::SoketiDefault(json) => format!("Soketi's default {json}"),
    }
}

/// Equal JSON, with arrays compared as sets and numbers written as strings accepted (as
/// Soketi's environment gives them).
fn same_json(given: &Value, default: &Value) -> bool {
    match (given, default) {
        (Value::Array(given), Value::Array(default)) => {
            given.len() == default.len()
                && default
                    .iter()
                    .all(|d| given.iter().any(|g| same_json(g, d)))
        }
        (Value::String(text), Value::Number(n)) => text.trim().parse::<f64>().ok() == n.as_f64(),
        (Value::String(text), Value::Bool(flag)) => text == &flag.to_string(),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (given, default) => given == default,
    }
}
