//! Parsing a Laravel `.env` file with the grammar of vlucas/phpdotenv 5, keeping line numbers.
//!
//! Each assignment becomes an `Entry` whose value is a list of text and `${NAME}` segments;
//! resolving those references is `resolve`'s job, because Laravel and Vite resolve them
//! differently. A line phpdotenv would refuse (Laravel then fails to boot) becomes a
//! `LineError` instead of stopping the parse, so every bad line can be reported.
//!
//! Grammar, as phpdotenv reads it: blank lines and lines starting with `#` are skipped; an
//! optional `export ` prefix; `NAME=value` with spaces around `=` allowed; unquoted values end
//! at `#` and may not contain spaces; single quotes are literal; double quotes allow `\"`,
//! `\\`, `\$`, `\n`, `\r`, `\t`, `\f`, `\v` and may span lines; `${NAME}` is a reference in
//! unquoted and double-quoted values only.
//!
//! `value` holds the state machine for one value, `error` the reasons a line is refused.

mod error;
mod value;

pub use error::LineError;
use value::{parse_value, Problem};

/// One piece of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A `${NAME}` reference.
    Var(String),
}

/// One `NAME=value` assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The variable name, without `export` and quotes.
    pub key: String,
    /// 1-based line the assignment starts on.
    pub line: usize,
    /// The value, unresolved.
    pub segments: Vec<Segment>,
}

/// A parsed `.env` file: the assignments in file order and the lines that were refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    /// Every assignment, duplicates included, in file order.
    pub entries: Vec<Entry>,
    /// Lines phpdotenv would refuse.
    pub errors: Vec<LineError>,
}

impl EnvFile {
    /// Every assignment of `key`, in file order.
    pub fn occurrences<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |entry| entry.key == key)
    }
}

/// Parses the text of a `.env` file.
pub fn parse(text: &str) -> EnvFile {
    // Editors on Windows may start the file with a byte-order mark; it is not part of a name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut file = EnvFile::default();
    let mut idx = 0;
    while idx < lines.len() {
        let line_no = idx + 1;
        let line = lines[idx].trim();
        idx += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((raw_name, raw_value)) = line.split_once('=') else {
            // phpdotenv reads a bare name as "unset it", and anything else as a bad name.
            let error = if is_valid_name(parse_name(line)) {
                LineError::NoEquals {
                    line: line_no,
                    name: parse_name(line).to_string(),
                }
            } else {
                LineError::InvalidName {
                    line: line_no,
                    name: line.chars().take(40).collect(),
                }
            };
            file.errors.push(error);
            continue;
        };
        let name = parse_name(raw_name.trim());
        if !is_valid_name(name) {
            let name = raw_name.trim().to_string();
            file.errors.push(LineError::InvalidName {
                line: line_no,
                name,
            });
            continue;
        }
        // A double-quoted value may continue on the following lines, as in phpdotenv.
        let mut value = raw_value.trim().to_string();
        let parsed = loop {
            match parse_value(&value) {
                Err(Problem::MissingQuote) if value.starts_with('"') && idx < lines.len() => {
                    value.push('\n');
                    value.push_str(lines[idx]);
                    idx += 1;
                }
                other => break other,
            }
        };
        let key = name.to_string();
        match parsed {
            Ok(segments) => file.entries.push(Entry {
                key,
                line: line_no,
                segments,
            }),
            Err(problem) => file.errors.push(problem.at(line_no, key)),
        }
    }
    file
}

fn parse_name(name: &str) -> &str {
    let name = match name.strip_prefix("export") {
        Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => name,
    };
    let quoted = name.len() >= 3
        && ((name.starts_with('"') && name.ends_with('"'))
            || (name.starts_with('\'') && name.ends_with('\'')));
    if quoted {
        &name[1..name.len() - 1]
    } else {
        name
    }
}

pub(super) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}
#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Segment {
        Segment::Text(s.into())
    }

    fn check(line: &str, expected: Result<Vec<Segment>, &str>) {
        let file = parse(line);
        match expected {
            Ok(segments) => {
                assert_eq!(file.errors, vec![], "{line}");
                assert_eq!(file.entries[0].segments, segments, "{line}");
            }
            Err(message) => assert_eq!(file.errors[0].to_string(), message, "{line}"),
        }
    }

    #[test]
    fn values() {
        check("A=b", Ok(vec![text("b")]));
        check("A = b  # note", Ok(vec![text("b")]));
        check("A=b#c", Ok(vec![text("b")]));
        check("A=", Ok(vec![]));
        check("export A='x y # z'", Ok(vec![text("x y # z")]));
        check(r#"A="a \"q\" \$x""#, Ok(vec![text(r#"a "q" $x"#)]));
        check(
            r#"A="${B}-x""#,
            Ok(vec![Segment::Var("B".into()), text("-x")]),
        );
        check("A=${B}", Ok(vec![Segment::Var("B".into())]));
        check("A='${B}'", Ok(vec![text("${B}")]));
        check("A=$B", Ok(vec![text("$B")]));
        check("A=\"one\ntwo\"", Ok(vec![text("one\ntwo")]));
    }

    #[test]
    fn refusals() {
        check(
            "A=b c",
            Err("line 1: the value of A contains a space but is not quoted"),
        );
        check("A=\"b", Err("line 1: the value of A has no closing quote"));
        check("A-B=c", Err("line 1: 'A-B' is not a valid variable name"));
        check(
            r#"A="\q""#,
            Err("line 1: the value of A has an unknown escape '\\q'"),
        );
        check(
            "just text",
            Err("line 1: 'just text' is not a valid variable name"),
        );
        check(
            "FOO",
            Err("line 1: 'FOO' has no '=', so it unsets FOO instead of setting it"),
        );
    }

    #[test]
    fn line_numbers_survive_comments_and_multiline_values() {
        let file = parse("# c\n\nA=\"x\ny\"\nB=1\n");
        let lines: Vec<_> = file
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.line))
            .collect();
        assert_eq!(lines, vec![("A", 3), ("B", 5)]);
    }
}
