//! The value types settings are written in, shared by every source: how a TOML value, a
//! Soketi JSON value or the text of a variable or flag becomes a `Value` (`parse`), how a
//! `Value` reaches its field (`Field`), and how it is written back as TOML (`render`).
//!
//! One parser per kind, so `-1`, `"unlimited"`, kilobytes with fractions and Soketi's numbers
//! written as strings mean the same thing in every source.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;

use super::{AppManager, LogFormat, SubscriptionErrorMode};

/// How a setting is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `true` / `false` (variables also take `1`/`0`, `yes`/`no`, `on`/`off`).
    Bool,
    /// Any text.
    Text,
    /// A list of texts (comma-separated in a variable).
    Texts,
    /// A file path.
    Path,
    /// 0–65535.
    Port,
    /// A whole number, 0 or more.
    Count,
    /// A whole number, or `"unlimited"` / `-1` for no limit.
    Limit,
    /// Whole seconds.
    Secs,
    /// Seconds, fractions allowed.
    FracSecs,
    /// Whole seconds, or `"off"` (or leaving it out) for none.
    SecsOrOff,
    /// Whole seconds; `0` turns it off.
    OffIfZero,
    /// Whole milliseconds.
    Millis,
    /// Kilobytes (1024 bytes), fractions allowed.
    Kb,
    /// One of these words.
    Choice(&'static [&'static str]),
}

/// How Soketi writes a number that sockwave reads in another unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// The setting's own unit.
    Same,
    /// Milliseconds, for a setting in seconds.
    Millis,
    /// Megabytes, for a setting in kilobytes.
    Megabytes,
}

/// Where a raw value comes from, which decides how strictly it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A TOML file: values have their TOML types.
    Toml,
    /// A variable or a flag: always text.
    Text,
    /// Soketi's JSON: numbers may be strings, booleans may be `1`/`0`, as Soketi accepts.
    Soketi(Unit),
}

/// A parsed value, in the units the configuration structs use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Text(String),
    Texts(Vec<String>),
    Whole(u64),
    Limit(Option<u64>),
    Time(Duration),
    MaybeTime(Option<Duration>),
    Bytes(usize),
}

/// Reads `raw` as `kind`; the error says what was expected.
pub(crate) fn parse(kind: Kind, raw: &Json, source: Source) -> Result<Value, String> {
    let text = match raw {
        Json::String(text) => Some(text.trim()),
        _ => None,
    };
    // A number, as the source may write it; Soketi's are rescaled to the setting's unit.
    let number = || -> Option<f64> {
        let n = match (raw, source) {
            (Json::Number(n), _) => n.as_f64(),
            (Json::String(_), Source::Text | Source::Soketi(_)) => text?.parse().ok(),
            _ => None,
        }?;
        let scale = match source {
            Source::Soketi(Unit::Millis) => 0.001,
            Source::Soketi(Unit::Megabytes) => 1024.0,
            _ => 1.0,
        };
        Some(n * scale).filter(|n| n.is_finite())
    };
    let whole = || number().filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= u64::MAX as f64);
    Ok(match kind {
        Kind::Bool => Value::Bool(match (raw, text) {
            (Json::Bool(flag), _) => *flag,
            (Json::Number(n), _)
                if matches!(source, Source::Soketi(_)) && n.as_u64() == Some(1) =>
            {
                true
            }
            (Json::Number(n), _)
                if matches!(source, Source::Soketi(_)) && n.as_u64() == Some(0) =>
            {
                false
            }
            (_, Some(text)) if source != Source::Toml => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err("expected true or false".into()),
            },
            _ => return Err("expected true or false".into()),
        }),
        Kind::Text | Kind::Path => match raw {
            Json::String(text) => Value::Text(text.clone()),
            Json::Number(n) if source != Source::Toml => Value::Text(n.to_string()),
            _ => return Err("expected a string".into()),
        },
        Kind::Texts => Value::Texts(match (raw, source) {
            (Json::String(text), Source::Text) => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(String::from)
                .collect(),
            (Json::String(text), Source::Soketi(_)) => vec![text.clone()],
            (Json::Array(items), _) => items
                .iter()
                .map(|item| item.as_str().map(String::from))
                .collect::<Option<_>>()
                .ok_or("expected an array of strings")?,
            _ => return Err("expected an array of strings".into()),
        }),
        Kind::Port => Value::Whole(
            whole()
                .filter(|n| *n <= f64::from(u16::MAX))
                .ok_or("expected a port number (0-65535)")? as u64,
        ),
        Kind::Count => Value::Whole(whole().ok_or("expected a whole number, 0 or more")? as u64),
        Kind::Limit => match (text, number()) {
            (Some("unlimited"), _) | (_, Some(-1.0)) => Value::Limit(None),
            _ => Value::Limit(Some(
                whole().ok_or("expected a whole number, or \"unlimited\" (-1)")? as u64,
            )),
        },
        Kind::Secs | Kind::Millis => {
            let expected = match (kind, source) {
                (Kind::Millis, _) => "expected whole milliseconds",
                _ => "expected whole seconds",
            };
            let n = match source {
                // Soketi's milliseconds may end between two seconds.
                Source::Soketi(Unit::Millis) => number().filter(|n| *n >= 0.0).ok_or(expected)?,
                _ => whole().ok_or(expected)?,
            };
            Value::Time(match kind {
                Kind::Millis => Duration::from_millis(n as u64),
                _ if n.fract() == 0.0 => Duration::from_secs(n as u64),
                _ => Duration::try_from_secs_f64(n).map_err(|_| expected)?,
            })
        }
        Kind::FracSecs => Value::Time(
            number()
                .and_then(|n| Duration::try_from_secs_f64(n).ok())
                .ok_or("expected seconds, fractions allowed (e.g. 2 or 0.5)")?,
        ),
        Kind::SecsOrOff => match text {
            Some("off") => Value::MaybeTime(None),
            _ => Value::MaybeTime(Some(Duration::from_secs(
                whole().ok_or("expected whole seconds, or \"off\"")? as u64,
            ))),
        },
        Kind::OffIfZero => {
            let n = whole().ok_or("expected whole seconds (0 turns it off)")? as u64;
            Value::MaybeTime((n > 0).then(|| Duration::from_secs(n)))
        }
        Kind::Kb => Value::Bytes(
            number()
                .filter(|kb| *kb >= 0.0)
                .map(|kb| (kb * 1024.0) as usize)
                .ok_or("expected a non-negative number of kilobytes")?,
        ),
        Kind::Choice(words) => {
            let word = text.map(str::to_ascii_lowercase).unwrap_or_default();
            if !words.contains(&word.as_str()) {
                let listed: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
                let (last, init) = listed.split_last().expect("a choice has words");
                return Err(format!("expected {} or {last}", init.join(", ")));
            }
            Value::Text(word)
        }
    })
}

/// The value as it is written in sockwave TOML; `None` for "off" (shown as a comment).
pub(crate) fn render(kind: Kind, value: &Value) -> Option<toml::Value> {
    let integer =
        |n: u64| i64::try_from(n).map_or(toml::Value::Float(n as f64), toml::Value::Integer);
    let seconds = |time: &Duration| match time.subsec_nanos() {
        0 => integer(time.as_secs()),
        _ => toml::Value::Float(time.as_secs_f64()),
    };
    Some(match (kind, value) {
        (_, Value::Bool(flag)) => toml::Value::Boolean(*flag),
        (_, Value::Text(text)) => toml::Value::String(text.clone()),
        (_, Value::Texts(texts)) => toml::Value::Array(
            texts
                .iter()
                .map(|t| toml::Value::String(t.clone()))
                .collect(),
        ),
        (_, Value::Whole(n)) => integer(*n),
        (_, Value::Limit(None)) => toml::Value::String("unlimited".into()),
        (_, Value::Limit(Some(n))) => integer(*n),
        (Kind::Millis, Value::Time(time)) => integer(time.as_millis() as u64),
        (_, Value::Time(time)) => seconds(time),
        (Kind::OffIfZero, Value::MaybeTime(None)) => integer(0),
        (_, Value::MaybeTime(time)) => seconds(time.as_ref()?),
        (Kind::Kb, Value::Bytes(n)) if n % 1024 == 0 => integer((n / 1024) as u64),
        (Kind::Kb, Value::Bytes(n)) => toml::Value::Float(*n as f64 / 1024.0),
        // Counts stored in a `usize`.
        (_, Value::Bytes(n)) => integer(*n as u64),
    })
}

/// The value as an error message shows it, in the setting's unit (whole numbers stay exact
/// where TOML's integers would not hold them).
pub(crate) fn display(kind: Kind, value: &Value) -> String {
    match value {
        Value::Whole(n) | Value::Limit(Some(n)) => n.to_string(),
        Value::Time(time) | Value::MaybeTime(Some(time))
            if kind != Kind::Millis && time.subsec_nanos() == 0 =>
        {
            time.as_secs().to_string()
        }
        _ => render(kind, value).map_or_else(|| "off".to_string(), |v| v.to_string()),
    }
}

/// A configuration field a `Value` can be stored in.
pub(crate) trait Field {
    /// Stores `value`; the error says why it does not fit.
    fn put(&mut self, value: Value) -> Result<(), String>;
    /// The stored value.
    fn get(&self) -> Value;
}

fn mismatch(value: &Value) -> String {
    format!("internal: a {value:?} does not fit this setting")
}

fn fits<T: TryFrom<u64>>(n: u64, max: u64) -> Result<T, String> {
    T::try_from(n).map_err(|_| format!("must be at most {max}"))
}

macro_rules! whole_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn put(&mut self, value: Value) -> Result<(), String> {
                match value {
                    Value::Whole(n) => *self = fits(n, <$t>::MAX as u64)?,
                    other => return Err(mismatch(&other)),
                }
                Ok(())
            }
            fn get(&self) -> Value {
                Value::Whole(*self as u64)
            }
        }
        impl Field for Option<$t> {
            fn put(&mut self, value: Value) -> Result<(), String> {
                match value {
                    Value::Limit(limit) => {
                        *self = limit.map(|n| fits(n, <$t>::MAX as u64)).transpose()?
                    }
                    other => return Err(mismatch(&other)),
                }
                Ok(())
            }
            fn get(&self) -> Value {
                Value::Limit(self.map(|n| n as u64))
            }
        }
    )*};
}
whole_field!(u16, u32, u64);

/// Byte sizes and counts share `usize`; the kind decides which one a setting is.
impl Field for usize {
    fn put(&mut self, value: Value) -> Result<(), String> {
        match value {
            Value::Whole(n) => *self = fits(n, usize::MAX as u64)?,
            Value::Bytes(n) => *self = n,
            other => return Err(mismatch(&other)),
        }
        Ok(())
    }
    fn get(&self) -> Value {
        Value::Bytes(*self)
    }
}

impl Field for bool {
    fn put(&mut self, value: Value) -> Result<(), String> {
        match value {
            Value::Bool(flag) => *self = flag,
            other => return Err(mismatch(&other)),
        }
        Ok(())
    }
    fn get(&self) -> Value {
        Value::Bool(*self)
    }
}

impl Field for String {
    fn put(&mut self, value: Value) -> Result<(), String> {
        match value {
            Value::Text(text) => *self = text,
            other => return Err(mismatch(&other)),
        }
        Ok(())
    }
    fn get(&self) -> Value {
        Value::Text(self.clone())
    }
}

/// App ids and keys are text fields.
macro_rules! text_field {
    ($($id:ty),+) => {$(
        impl Field for $id {
            fn put(&mut self, value: Value) -> Result<(), String> {
                match value {
                    Value::Text(text) => *self = <$id>::from(text),
                    other => return Err(mismatch(&other)),
                }
                Ok(())
            }
            fn get(&self) -> Value {
                Value::Text(self.to_string())
            }
        }
    )+};
}

text_field!(crate::app::AppId, crate::app::AppKey);

impl Field for Option<String> {
    fn put(&mut self, value: Value) -> Result<(), String> {
        let mut text = String::new();
        text.put(value)?;
        *self = Some(text);
        Ok(())
    }
    fn get(&self) -> Value {
        Value::Text(self.clone().unwrap_or_default())
    }
}

impl Field for Option<PathBuf> {
    fn put(&mut self, value: Value) -> Result<(), String> {
        let mut text = String::new();
        text.put(value)?;
        *self = Some(PathBuf::from(text));
        Ok(())
    }
    fn get(&self) -> Value {
        Value::Text(
            self.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        )
    }
}

impl Field for Vec<String> {
    fn put(&mut self, value: Value) -> Result<(), String> {
        match value {
            Value::Texts(texts) => *self = texts,
            other => return Err(mismatch(&other)),
        }
        Ok(())
    }
    fn get(&self) -> Value {
        Value::Texts(self.clone())
    }
}

impl Field for Duration {
    fn put(&mut self, value: Value) -> Result<(), String> {
        match value {
            Value::Time(time) => *self = time,
            other => return Err(mismatch(&other)),
        }
        Ok(())
    }
    fn get(&self) -> Value {
        Value::Time(*self)
    }
}

impl Field for Option<Duration> {
    fn put(&mut self, value: Value) -> Result<(), String> {
        match value {
            Value::MaybeTime(time) => *self = time,
            other => return Err(mismatch(&other)),
        }
        Ok(())
    }
    fn get(&self) -> Value {
        Value::MaybeTime(*self)
    }
}

/// `Field` for an enum written as one word per variant.
macro_rules! word_field {
    ($ty:ty { $($word:literal => $variant:expr),+ $(,)? }) => {
        impl Field for $ty {
            fn put(&mut self, value: Value) -> Result<(), String> {
                *self = match value {
                    $(Value::Text(word) if word == $word => $variant,)+
                    other => return Err(mismatch(&other)),
                };
                Ok(())
            }
            fn get(&self) -> Value {
                $(if *self == $variant {
                    return Value::Text($word.into());
                })+
                unreachable!("every variant has a word")
            }
        }
    };
}

word_field!(SubscriptionErrorMode {
    "soketi" => SubscriptionErrorMode::Soketi,
    "pusher" => SubscriptionErrorMode::Pusher,
});
word_field!(AppManager {
    "static" => AppManager::Static,
    "mysql" => AppManager::Mysql,
    "postgres" => AppManager::Postgres,
});
word_field!(LogFormat {
    "text" => LogFormat::Text,
    "json" => LogFormat::Json,
});

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(kind: Kind, raw: Json, source: Source, expected: Result<Value, &str>) {
        assert_eq!(
            parse(kind, &raw, source),
            expected.map_err(String::from),
            "{kind:?} {raw}"
        );
    }

    #[test]
    fn every_source_reads_limits_alike() {
        for source in [Source::Toml, Source::Text, Source::Soketi(Unit::Same)] {
            let minus_one = match source {
                Source::Toml => json!(-1),
                _ => json!("-1"),
            };
            check(Kind::Limit, minus_one, source, Ok(Value::Limit(None)));
            check(
                Kind::Limit,
                json!("unlimited"),
                source,
                Ok(Value::Limit(None)),
            );
        }
        check(
            Kind::Limit,
            json!(25),
            Source::Toml,
            Ok(Value::Limit(Some(25))),
        );
        check(
            Kind::Limit,
            json!(-2),
            Source::Toml,
            Err("expected a whole number, or \"unlimited\" (-1)"),
        );
    }

    #[test]
    fn units_and_strictness() {
        check(Kind::Kb, json!(0.5), Source::Toml, Ok(Value::Bytes(512)));
        check(
            Kind::Kb,
            json!(1),
            Source::Soketi(Unit::Megabytes),
            Ok(Value::Bytes(1 << 20)),
        );
        check(
            Kind::Secs,
            json!(2500),
            Source::Soketi(Unit::Millis),
            Ok(Value::Time(Duration::from_millis(2500))),
        );
        check(
            Kind::Port,
            json!("7000"),
            Source::Soketi(Unit::Same),
            Ok(Value::Whole(7000)),
        );
        check(
            Kind::Port,
            json!("7000"),
            Source::Toml,
            Err("expected a port number (0-65535)"),
        );
        check(
            Kind::Bool,
            json!("yes"),
            Source::Text,
            Ok(Value::Bool(true)),
        );
        check(
            Kind::Bool,
            json!(1),
            Source::Soketi(Unit::Same),
            Ok(Value::Bool(true)),
        );
        check(
            Kind::Bool,
            json!(1),
            Source::Toml,
            Err("expected true or false"),
        );
        check(
            Kind::Texts,
            json!("a, b,"),
            Source::Text,
            Ok(Value::Texts(vec!["a".into(), "b".into()])),
        );
        check(
            Kind::Choice(&["soketi", "pusher"]),
            json!("Pusher"),
            Source::Text,
            Ok(Value::Text("pusher".into())),
        );
        check(
            Kind::SecsOrOff,
            json!("off"),
            Source::Text,
            Ok(Value::MaybeTime(None)),
        );
    }

    #[test]
    fn fields_check_their_range() {
        let mut narrow = 0u16;
        assert_eq!(
            narrow.put(Value::Whole(70_000)),
            Err("must be at most 65535".into())
        );
        let mut limit: Option<u32> = Some(1);
        assert_eq!(limit.put(Value::Limit(None)), Ok(()));
        assert_eq!(limit, None);
        assert_eq!(
            render(Kind::Kb, &Value::Bytes(512)),
            Some(toml::Value::Float(0.5))
        );
        assert_eq!(render(Kind::SecsOrOff, &Value::MaybeTime(None)), None);
    }
}
