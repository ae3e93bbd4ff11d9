//! `ConfigError`: every way a configuration can be refused, and where the culprit came from.
//!
//! Each variant names its source (a file and key, an environment variable or a flag) so an
//! operator can fix the right place. Messages never contain an app secret.

use std::path::PathBuf;

use thiserror::Error;

use super::draft::Origin;

/// Why the configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file named by `--config` or `SOCKWAVE_CONFIG`.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The TOML file is not valid TOML or a value has the wrong type.
    #[error("invalid config file {}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        source: toml::de::Error,
    },
    /// The Soketi JSON file is not a valid JSON object.
    #[error("invalid Soketi config file {}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// A file contains a key sockwave does not know.
    #[error("unknown key '{key}' in {}{}", file.display(), did_you_mean(.suggestion))]
    UnknownKey {
        /// The key, dotted from the top of the file.
        key: String,
        /// The file.
        file: PathBuf,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },
    /// A `SOCKWAVE_*` or `SOKETI_*` environment variable sockwave does not know.
    #[error("unknown environment variable {var}{}", did_you_mean(.suggestion))]
    UnknownEnv {
        /// The variable's name.
        var: String,
        /// The closest known variable, if one is close.
        suggestion: Option<String>,
    },
    /// A value could not be parsed or is out of range.
    #[error("invalid value {value} for {origin}: {reason}")]
    Invalid {
        /// Where the value came from.
        origin: Origin,
        /// The value as written (quoted for text).
        value: String,
        /// What was expected instead.
        reason: String,
    },
    /// A Soketi setting whose value would change behaviour in a way sockwave does not
    /// implement; refusing is safer than ignoring it.
    #[error("{origin} is not supported yet{}", accepted_values(.accepted))]
    Unsupported {
        /// Where the setting came from.
        origin: Origin,
        /// The only values sockwave accepts for it, if any.
        accepted: Option<String>,
    },
    /// A required key is absent, e.g. an app without a secret.
    #[error("missing {origin}")]
    Missing {
        /// The key that should have been there.
        origin: Origin,
    },
    /// Two apps share an id or a key.
    #[error("duplicate app {field} '{value}': set by {first} and by {second}")]
    DuplicateApp {
        /// `id` or `key`.
        field: &'static str,
        /// The shared value.
        value: String,
        /// Where the first app's value came from (boxed to keep the error small).
        first: Box<Origin>,
        /// Where the second app's value came from.
        second: Box<Origin>,
    },
    /// More than one setting cannot be used; all of them, in the order they were read.
    #[error("{} settings cannot be used; fix them all (sockwave reads everything before it stops):{}", problems.len(), listed(problems))]
    Several {
        /// Each setting's own error.
        problems: Vec<ConfigError>,
    },
    /// The configuration leaves no app to serve.
    #[error("no apps configured: {origin} is empty")]
    NoApps {
        /// The key that emptied the list.
        origin: Origin,
    },
}

fn listed(problems: &[ConfigError]) -> String {
    problems
        .iter()
        .map(|problem| format!("\n  - {problem}"))
        .collect()
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!(" (did you mean '{name}'?)"),
        None => String::new(),
    }
}

fn accepted_values(accepted: &Option<String>) -> String {
    match accepted {
        Some(values) => format!(" (sockwave accepts only {values})"),
        None => String::new(),
    }
}

/// The known name closest to `input`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(input: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    // A third of the length, but at least two edits: short names tolerate one slip, long
    // names a few, and unrelated names are not suggested.
    let budget = (input.len() / 3).max(2);
    known
        .into_iter()
        .map(|name| (edit_distance(input, name), name))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name.to_string())
}

/// Levenshtein distance, case-insensitive.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(&a.to_lowercase(), &b.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, known: &[&str], expected: Option<&str>) {
        assert_eq!(
            closest(input, known.iter().copied()).as_deref(),
            expected,
            "{input}"
        );
    }

    #[test]
    fn suggestions() {
        check("prot", &["host", "port", "debug"], Some("port"));
        check(
            "SOCKWAVE_PROT",
            &["SOCKWAVE_PORT", "SOCKWAVE_HOST"],
            Some("SOCKWAVE_PORT"),
        );
        check(
            "max_conections",
            &["max_connections", "max_batch_size"],
            Some("max_connections"),
        );
        check(
            "enableclientmessages",
            &["enableClientMessages"],
            Some("enableClientMessages"),
        );
        check("totally_else", &["port", "host"], None);
        check("", &["port"], None);
    }
}
