//! The value state machine: quotes, escapes, comments and `${NAME}` references, as
//! phpdotenv's parser reads a value once the name and `=` are split off.

use super::{is_valid_name, LineError, Segment};

/// A refusal before the line and name are known.
pub(super) enum Problem {
    MissingQuote,
    UnquotedSpace,
    BadEscape(char),
}

impl Problem {
    pub(super) fn at(self, line: usize, key: String) -> LineError {
        match self {
            Problem::MissingQuote => LineError::MissingQuote { line, key },
            Problem::UnquotedSpace => LineError::UnquotedSpace { line, key },
            Problem::BadEscape(escape) => LineError::BadEscape { line, key, escape },
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Start,
    Unquoted,
    Single,
    Double,
    AfterValue,
}

/// The value state machine; `value` is already trimmed.
pub(super) fn parse_value(value: &str) -> Result<Vec<Segment>, Problem> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut state = State::Start;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (state, c) {
            (State::Start, '\'') => state = State::Single,
            (State::Start, '"') => state = State::Double,
            (State::Start | State::Unquoted | State::AfterValue, '#') => break,
            (State::Start | State::Unquoted, c) if c.is_whitespace() => state = State::AfterValue,
            (State::AfterValue, c) if c.is_whitespace() => {}
            (State::AfterValue, _) => return Err(Problem::UnquotedSpace),
            (State::Single, '\'') | (State::Double, '"') => state = State::AfterValue,
            (State::Single, c) => text.push(c),
            (State::Double, '\\') => match chars.next() {
                Some(c @ ('"' | '\\' | '$')) => text.push(c),
                Some('n') => text.push('\n'),
                Some('r') => text.push('\r'),
                Some('t') => text.push('\t'),
                Some('f') => text.push('\u{c}'),
                Some('v') => text.push('\u{b}'),
                Some(other) => return Err(Problem::BadEscape(other)),
                None => return Err(Problem::MissingQuote),
            },
            (State::Start | State::Unquoted | State::Double, '$') if chars.peek() == Some(&'{') => {
                if state == State::Start {
                    state = State::Unquoted;
                }
                match take_reference(&mut chars) {
                    Some(name) => {
                        segments.push(Segment::Text(std::mem::take(&mut text)));
                        segments.push(Segment::Var(name));
                    }
                    None => text.push('$'),
                }
            }
            (State::Start | State::Unquoted | State::Double, c) => {
                if state == State::Start {
                    state = State::Unquoted;
                }
                text.push(c);
            }
        }
    }
    if matches!(state, State::Single | State::Double) {
        return Err(Problem::MissingQuote);
    }
    segments.push(Segment::Text(text));
    segments.retain(|segment| segment != &Segment::Text(String::new()));
    Ok(segments)
}

/// After `$`: consumes `{NAME}` and returns `NAME`, or consumes nothing when it is not a
/// well-formed reference (phpdotenv then keeps the text as it is).
fn take_reference(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let rest: String = chars.clone().collect();
    let inner = rest.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    if !is_valid_name(name) {
        return None;
    }
    for _ in 0..end + 2 {
        chars.next();
    }
    Some(name.to_string())
}
