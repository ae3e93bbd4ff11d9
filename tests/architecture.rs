//! The module layers drawn in `ARCHITECTURE.md` hold: every `crate::…` (or `super::…` that
//! reaches the crate root) path in `src/` goes from a top-level module to one on a lower line
//! of the drawing, so the module graph has no cycle and no edge goes up.
//!
//! The drawing is the fenced block after `<!-- layers -->` in `ARCHITECTURE.md`: one line per
//! layer, the top layer first, modules separated by spaces. Every top-level module of
//! `src/lib.rs` must appear in it exactly once.

#![allow(unreachable_pub, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module → layer number (0 is the bottom).
fn layers() -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let after = text
        .split_once("<!-- layers -->")
        .expect("a <!-- layers --> marker in ARCHITECTURE.md")
        .1;
    let block = after
        .split_once("```")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a fenced block after the marker")
        .0;
    let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut layers = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        let level = lines.len() - 1 - index;
        for module in line.split_whitespace() {
            assert!(
                layers.insert(module.to_string(), level).is_none(),
                "{module} is drawn twice"
            );
        }
    }
    layers
}

/// The top-level modules `src/lib.rs` declares.
fn declared_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            ["pub mod ", "pub(crate) mod ", "mod "]
                .iter()
                .find_map(|prefix| line.strip_prefix(prefix))
        })
        .map(|rest| rest.trim_end_matches(';').to_string())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level modules a file's code names, from `crate::x`, `crate::{x, y}` and `super`
/// chains that climb to the crate root. Comment lines are skipped.
fn referenced_modules(code: &str, path: &[String]) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let ident = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let add_group = |after: &str, found: &mut BTreeSet<String>| {
        if let Some(group) = after.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name = ident(item.trim());
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
        } else {
            let name = ident(after);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    };
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // e.g. `some_crate::`
        }
        add_group(&code[at + "crate::".len()..], &mut found);
    }
    // `super::super::…` from `src/a/b.rs` climbs `path.len() - 1` levels to reach the root.
    let climb = "super::".repeat(path.len());
    if !climb.is_empty() {
        for (at, _) in code.match_indices(&climb) {
            let after = &code[at + climb.len()..];
            if !after.starts_with("super::") {
                add_group(after, &mut found);
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_lower_layers() {
    let layers = layers();
    let declared = declared_modules();
    let drawn: BTreeSet<String> = layers.keys().cloned().collect();
    assert_eq!(
        drawn, declared,
        "the drawing in ARCHITECTURE.md must name exactly the modules of src/lib.rs"
    );
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut n_edges = 0;
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src").to_path_buf();
        let path = module_path(&relative);
        let Some(from) = path.first().filter(|m| layers.contains_key(*m)) else {
            continue; // lib.rs, main.rs
        };
        let code = std::fs::read_to_string(&file).expect("read a source file");
        for to in referenced_modules(&code, &path) {
            if &to == from || !layers.contains_key(&to) {
                continue;
            }
            n_edges += 1;
            if layers[&to] >= layers[from] {
                wrong.push(format!("{} uses {to}", relative.display()));
            }
        }
    }
    assert!(n_edges > 50, "the parser found only {n_edges} edges");
    assert!(
        wrong.is_empty(),
        "uses that go up (or sideways) in the drawn layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_parser_sees_every_form_of_path() {
    let path = vec!["a".to_string(), "b".to_string()];
    let code = "use crate::x::Y;\nuse crate::{p, q::r, self};\n// crate::commented\nlet v = super::super::z::f();\nuse super::sibling;\nuse other_crate::w;";
    let found = referenced_modules(code, &path);
    let expected: BTreeSet<String> = ["x", "p", "q", "z"].iter().map(|s| s.to_string()).collect();
    assert_eq!(found, expected);
}
