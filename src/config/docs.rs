//! The settings tables of `docs/configuration.md`, written from the settings table, and the
//! test that the document shows exactly them. On a mismatch the test prints the tables to
//! paste between the markers.

use super::soketi::ENV_OPTIONS;
use super::table::{Access, Scope, Setting, SETTINGS};
use super::value::{render, Kind, Unit};
use super::Config;

/// `SOKETI_X` / `option`, for every Soketi variable that sets `option`.
fn soketi_names(option: &str, unit: Unit) -> String {
    let vars: Vec<String> = ENV_OPTIONS
        .iter()
        .filter(|(_, o)| *o == option)
        .map(|(var, _)| format!("`SOKETI_{var}`"))
        .collect();
    let unit = match unit {
        Unit::Same => "",
        Unit::Millis => " (**milliseconds**)",
        Unit::Megabytes => " (**MB**)",
    };
    match vars.is_empty() {
        true => format!("`{option}`{unit}"),
        false => format!("{} / `{option}`{unit}", vars.join(", ")),
    }
}

fn default_of(setting: &Setting) -> String {
    if let Some(text) = setting.default_doc {
        return text.to_string();
    }
    let value = setting.get(&Config::default(), 0);
    match value.and_then(|value| render(setting.kind, &value)) {
        Some(toml::Value::String(text)) if text == "unlimited" => "unlimited".to_string(),
        Some(value) => format!("`{value}`"),
        None => "off".to_string(),
    }
}

fn env_cell(setting: &Setting) -> String {
    let note = match (setting.kind, &setting.access) {
        (_, Access::Webhooks) => " (a JSON array)",
        (Kind::Texts, _) => " (comma-separated)",
        _ => "",
    };
    format!("`{}`{note}", setting.env_var())
}

fn cells(setting: &Setting) -> Vec<String> {
    let or_dash = |cell: String| {
        if cell.is_empty() {
            "—".to_string()
        } else {
            cell
        }
    };
    let flag = or_dash(setting.flag.map(|f| format!("`--{f}`")).unwrap_or_default());
    let key = format!("`{}`", setting.key);
    let doc = setting.doc.to_string();
    match setting.scope {
        Scope::App => {
            let field = or_dash(
                setting
                    .soketi
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            let first_app: Vec<String> = setting
                .soketi
                .iter()
                .map(|f| format!("appManager.array.apps.0.{f}"))
                .map(|option| soketi_names(&option, Unit::Same))
                .filter(|names| names.contains("SOKETI_"))
                .map(|names| names.split(" / ").next().unwrap_or_default().to_string())
                .chain(
                    setting
                        .soketi_default
                        .map(|o| soketi_names(o, setting.unit)),
                )
                .chain(setting.laravel.map(|var| format!("`{var}`")))
                .collect();
            vec![
                key,
                env_cell(setting),
                field,
                or_dash(first_app.join("; ")),
                flag,
                default_of(setting),
                doc,
            ]
        }
        Scope::Console => vec![key, env_cell(setting), default_of(setting), doc],
        Scope::Server | Scope::Cluster => {
            let soketi: Vec<String> = setting
                .soketi
                .iter()
                .map(|o| soketi_names(o, setting.unit))
                .collect();
            let mut row = vec![key, env_cell(setting), or_dash(soketi.join("; "))];
            if setting.scope == Scope::Server {
                row.push(flag);
            }
            row.extend([default_of(setting), doc]);
            row
        }
    }
}

/// The Markdown table of one scope.
pub(crate) fn table(scope: Scope) -> String {
    let header: &[&str] = match scope {
        Scope::Server => &[
            "TOML (`[server]`)",
            "sockwave variable",
            "Soketi variable / JSON option",
            "Flag",
            "Default",
            "Meaning",
        ],
        Scope::Console => &[
            "TOML (`[console]`)",
            "sockwave variable",
            "Default",
            "Meaning",
        ],
        Scope::Cluster => &[
            "TOML (`[cluster]`)",
            "sockwave variable",
            "Soketi variable / JSON option",
            "Default",
            "Meaning",
        ],
        Scope::App => &[
            "TOML (`[[apps]]`)",
            "sockwave variable (first app)",
            "Soketi app field (JSON)",
            "Soketi variable (first app); server-wide default; Laravel",
            "Flag (first app)",
            "Default",
            "Meaning",
        ],
    };
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = row(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&row(header.iter().map(|_| "---".to_string()).collect()));
    for setting in SETTINGS.iter().filter(|s| s.scope == scope) {
        out.push_str(&row(cells(setting)));
    }
    out
}

#[test]
fn the_docs_show_the_settings_table() {
    let doc = include_str!("../../docs/configuration.md");
    let scopes = [Scope::Server, Scope::Console, Scope::Cluster, Scope::App];
    let expected: Vec<(String, String)> = scopes
        .iter()
        .map(|scope| {
            (
                format!("<!-- settings: {} -->\n", scope.table()),
                table(*scope),
            )
        })
        .collect();
    let end = "<!-- /settings -->";
    let written = |start: &str| {
        doc.split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(table, _)| table)
    };
    if expected
        .iter()
        .all(|(start, table)| written(start) == Some(table.as_str()))
    {
        return;
    }
    let all: String = expected
        .iter()
        .map(|(start, table)| format!("{start}{table}{end}\n\n"))
        .collect();
    let out = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/configuration-tables.md"
    );
    let _ = std::fs::write(out, &all);
    panic!("docs/configuration.md must show the settings tables exactly as src/config/table declares them; the expected tables, with their markers, are in {out}");
}
