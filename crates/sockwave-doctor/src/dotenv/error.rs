//! Why phpdotenv refuses a line, one variant per reason, each naming the line.

/// Why phpdotenv refuses a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The name has characters other than letters, digits, `_` and `.`.
    #[error("line {line}: '{name}' is not a valid variable name")]
    InvalidName {
        /// The line.
        line: usize,
        /// The name as written.
        name: String,
    },
    /// A quoted value is never closed.
    #[error("line {line}: the value of {key} has no closing quote")]
    MissingQuote {
        /// The line.
        line: usize,
        /// The variable.
        key: String,
    },
    /// An unquoted value contains a space followed by more text.
    #[error("line {line}: the value of {key} contains a space but is not quoted")]
    UnquotedSpace {
        /// The line.
        line: usize,
        /// The variable.
        key: String,
    },
    /// A backslash escape phpdotenv does not know, inside double quotes.
    #[error("line {line}: the value of {key} has an unknown escape '\\{escape}'")]
    BadEscape {
        /// The line.
        line: usize,
        /// The variable.
        key: String,
        /// The character after the backslash.
        escape: char,
    },
    /// A bare name without `=`; phpdotenv accepts it and unsets the variable.
    #[error("line {line}: '{name}' has no '=', so it unsets {name} instead of setting it")]
    NoEquals {
        /// The line.
        line: usize,
        /// The name.
        name: String,
    },
}

impl LineError {
    /// Whether Laravel refuses to boot on this line ("Failed to parse dotenv file").
    pub fn is_fatal(&self) -> bool {
        !matches!(self, LineError::NoEquals { .. })
    }
}
