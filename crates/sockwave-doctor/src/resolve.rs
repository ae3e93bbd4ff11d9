//! The value each side actually sees, after duplicates and `${NAME}` references.
//!
//! Both sides keep the **last** assignment of a name. They differ on references:
//!
//! - **Laravel** (phpdotenv 5, immutable repository): lines are loaded top to bottom and a
//!   reference is replaced by the value the name has *at that point*; a name not defined yet
//!   is left in place as the literal text `${NAME}`.
//! - **Vite / Laravel Mix** (dotenv + dotenv-expand): the whole file is read first, so a
//!   reference sees the final value of a name defined anywhere; an undefined name becomes
//!   the empty string.
//!
//! Real environment variables beat the file on both sides; that is reported elsewhere, not
//! modelled here.

use std::collections::HashMap;

use super::dotenv::{EnvFile, Segment};

/// One variable as a side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The final value.
    pub value: String,
    /// The line of the assignment that won.
    pub line: usize,
    /// References this side could not resolve (left literal by Laravel, emptied by Vite).
    pub unresolved: Vec<String>,
}

/// Every variable as one side sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(HashMap<String, Resolved>);

impl Values {
    /// The variable, if assigned.
    pub fn get(&self, key: &str) -> Option<&Resolved> {
        self.0.get(key)
    }

    /// The value, if assigned and not empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key)
            .map(|resolved| resolved.value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// Whether any variable starts with `prefix`.
    pub fn any_with_prefix(&self, prefix: &str) -> bool {
        self.0.keys().any(|key| key.starts_with(prefix))
    }
}

/// Values as Laravel's `env()` sees them.
pub fn laravel(file: &EnvFile) -> Values {
    let mut values = HashMap::new();
    for (entry, resolved) in file.entries.iter().zip(laravel_entries(file)) {
        values.insert(entry.key.clone(), resolved);
    }
    Values(values)
}

/// Each assignment's value as Laravel loads it, aligned with `file.entries`; for a name set
/// twice this shows both values, not only the winner.
pub fn laravel_entries(file: &EnvFile) -> Vec<Resolved> {
    let mut values: HashMap<&str, Resolved> = HashMap::new();
    let mut each = Vec::with_capacity(file.entries.len());
    for entry in &file.entries {
        let mut value = String::new();
        let mut unresolved = Vec::new();
        for segment in &entry.segments {
            match segment {
                Segment::Text(text) => value.push_str(text),
                Segment::Var(name) => match values.get(name.as_str()) {
                    Some(known) => value.push_str(&known.value),
                    None => {
                        value.push_str(&format!("${{{name}}}"));
                        unresolved.push(name.clone());
                    }
                },
            }
        }
        let resolved = Resolved {
            value,
            line: entry.line,
            unresolved,
        };
        values.insert(&entry.key, resolved.clone());
        each.push(resolved);
    }
    each
}

/// Values as Vite (or Laravel Mix) sees them when building the browser bundle.
pub fn vite(file: &EnvFile) -> Values {
    let mut last: HashMap<&str, &[Segment]> = HashMap::new();
    let mut lines: HashMap<&str, usize> = HashMap::new();
    for entry in &file.entries {
        last.insert(&entry.key, &entry.segments);
        lines.insert(&entry.key, entry.line);
    }
    let values = last
        .iter()
        .map(|(key, segments)| {
            let mut unresolved = Vec::new();
            let value = expand(segments, &last, &mut unresolved, 0);
            let resolved = Resolved {
                value,
                line: lines[key],
                unresolved,
            };
            (key.to_string(), resolved)
        })
        .collect();
    Values(values)
}

/// dotenv-expand substitutes recursively; the depth bound stops a reference cycle.
fn expand(
    segments: &[Segment],
    all: &HashMap<&str, &[Segment]>,
    unresolved: &mut Vec<String>,
    depth: usize,
) -> String {
    let mut value = String::new();
    for segment in segments {
        match segment {
            Segment::Text(text) => value.push_str(text),
            Segment::Var(name) => match all.get(name.as_str()) {
                Some(inner) if depth < 8 => {
                    value.push_str(&expand(inner, all, unresolved, depth + 1))
                }
                _ => unresolved.push(name.clone()),
            },
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dotenv::parse;

    fn check(text: &str, key: &str, laravel_value: &str, vite_value: &str) {
        let file = parse(text);
        assert_eq!(
            laravel(&file).get(key).unwrap().value,
            laravel_value,
            "laravel"
        );
        assert_eq!(vite(&file).get(key).unwrap().value, vite_value, "vite");
    }

    #[test]
    fn references() {
        check("A=1\nB=\"${A}\"", "B", "1", "1");
        check("B=\"${A}\"\nA=1", "B", "${A}", "1");
        check("B=${NOPE}x", "B", "${NOPE}x", "x");
        check("A=1\nB=${A}\nA=2", "B", "1", "2");
        check("A=1\nA=2", "A", "2", "2");
    }

    #[test]
    fn records_the_winning_line_and_unresolved_names() {
        let file = parse("A=1\nB=${C}\nA=3\n");
        let values = laravel(&file);
        assert_eq!(values.get("A").unwrap().line, 3);
        assert_eq!(values.get("B").unwrap().unresolved, vec!["C".to_string()]);
    }
}
