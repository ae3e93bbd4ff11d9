//! What the built frontend connects with. Vite (and Laravel Mix) replace every
//! `import.meta.env.VITE_*` (`process.env.MIX_*`) with its value when the bundle is built, so
//! the browser runs whatever `.env` said at the last `npm run build`, not what it says now.
//!
//! `read` finds the built JavaScript through the bundler's manifest; `echo_options` finds
//! the object literal Echo is constructed with (`{broadcaster:"pusher",key:"…",wsHost:…}`,
//! as minifiers write it) and reads its literal values. Pure text work: nothing is executed.

use std::path::{Path, PathBuf};

/// One option's value as the bundle has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baked {
    /// A string literal.
    Text(String),
    /// A number literal.
    Number(String),
    /// `true`/`false` (minified `!0`/`!1`).
    Flag(bool),
    /// An expression the bundler did not fold (a runtime value): not compared.
    Other(String),
}

impl Baked {
    /// The value as text, for comparing with `.env` (numbers and strings alike).
    pub fn text(&self) -> Option<&str> {
        match self {
            Baked::Text(text) | Baked::Number(text) => Some(text),
            Baked::Flag(_) | Baked::Other(_) => None,
        }
    }
}

/// Echo's options found in the built JavaScript.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EchoOptions {
    /// `pusher` or `reverb`.
    pub broadcaster: String,
    /// `key`.
    pub key: Option<Baked>,
    /// `wsHost`.
    pub ws_host: Option<Baked>,
    /// `wsPort` (plain).
    pub ws_port: Option<Baked>,
    /// `wssPort` (TLS).
    pub wss_port: Option<Baked>,
    /// `forceTLS`.
    pub force_tls: Option<Baked>,
}

/// The built frontend of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltFrontend {
    /// The manifest that named the files, relative to the project.
    pub manifest: String,
    /// The file the options were found in, relative to the project.
    pub file: Option<String>,
    /// Echo's options, when a file has them.
    pub options: Option<EchoOptions>,
    /// `public/hot` exists: the Vite dev server runs, and the browser uses it, not the build.
    pub dev_server: bool,
}

/// Reads the built frontend of the project in `dir`: Vite's manifest
/// (`public/build/manifest.json`, or `.vite/manifest.json` inside it) or Laravel Mix's
/// (`public/mix-manifest.json`), and the JavaScript they name. `None` when there is none.
pub fn read(dir: &Path) -> Option<BuiltFrontend> {
    let vite = [
        "public/build/manifest.json",
        "public/build/.vite/manifest.json",
    ]
    .into_iter()
    .find_map(|name| Some((name, std::fs::read_to_string(dir.join(name)).ok()?)));
    let (manifest, files): (&str, Vec<PathBuf>) = if let Some((name, text)) = vite {
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let files = json
            .as_object()?
            .values()
            .filter_map(|entry| entry["file"].as_str())
            .filter(|file| file.ends_with(".js"))
            .map(|file| dir.join("public/build").join(file))
            .collect();
        (name, files)
    } else {
        let name = "public/mix-manifest.json";
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()?;
        let files = json
            .as_object()?
            .values()
            .filter_map(|path| path.as_str())
            .map(|path| path.split('?').next().unwrap_or(path))
            .filter(|path| path.ends_with(".js"))
            .map(|path| dir.join("public").join(path.trim_start_matches('/')))
            .collect();
        (name, files)
    };
    let found = files.iter().find_map(|path| {
        let js = std::fs::read_to_string(path).ok()?;
        let options = echo_options(&js)?;
        let shown = path.strip_prefix(dir).unwrap_or(path).display().to_string();
        Some((shown, options))
    });
    Some(BuiltFrontend {
        dev_server: dir.join("public/hot").is_file(),
        manifest: manifest.to_string(),
        file: found.as_ref().map(|(file, _)| file.clone()),
        options: found.map(|(_, options)| options),
    })
}

/// The first object literal in `js` with a `broadcaster` of `pusher` or `reverb` and a `key`.
pub fn echo_options(js: &str) -> Option<EchoOptions> {
    let mut from = 0;
    while let Some(found) = js[from..].find("broadcaster") {
        let at = from + found;
        from = at + "broadcaster".len();
        // `broadcaster:`, `"broadcaster":` or `'broadcaster':`: a property, not a mention.
        if !js[from..].trim_start_matches(['"', '\'']).starts_with(':') {
            continue;
        }
        let Some(object) = enclosing_object(js, at) else {
            continue;
        };
        let fields = top_level_fields(object);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let broadcaster = match field("broadcaster") {
            Some(Baked::Text(name)) if name == "pusher" || name == "reverb" => name,
            _ => continue,
        };
        // Echo 1.x's own defaults (`{broadcaster:"pusher",…,key:null}`) come first in a
        // bundle: only the app's options have the key as a string.
        let Some(key @ Baked::Text(_)) = field("key") else {
            continue;
        };
        return Some(EchoOptions {
            broadcaster,
            key: Some(key),
            ws_host: field("wsHost"),
            ws_port: field("wsPort"),
            wss_port: field("wssPort"),
            force_tls: field("forceTLS"),
        });
    }
    None
}

/// The inside of the `{...}` around byte `at`: back to the `{` that is not closed before
/// `at`, then forward to its matching `}`.
fn enclosing_object(js: &str, at: usize) -> Option<&str> {
    let bytes = js.as_bytes();
    let mut open = 0usize;
    let mut start = None;
    for i in (0..at).rev() {
        match bytes[i] {
            b'}' => open += 1,
            b'{' if open == 0 => {
                start = Some(i);
                break;
            }
            b'{' => open -= 1,
            _ => {}
        }
    }
    let start = start?;
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' | b'`' => quote = Some(b),
                b'{' | b'(' | b'[' => depth += 1,
                b'}' | b')' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(&js[start + 1..i]);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// `name:value` pairs at the top level of an object literal's inside.
fn top_level_fields(object: &str) -> Vec<(String, Baked)> {
    let mut fields = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in object.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                fields.extend(field(&object[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.extend(field(&object[start..]));
    fields
}

fn field(pair: &str) -> Option<(String, Baked)> {
    let (name, value) = pair.split_once(':')?;
    let name = name.trim().trim_matches(['"', '\'']);
    Some((name.to_string(), value_of(value.trim())))
}

fn value_of(expression: &str) -> Baked {
    let quoted = |q: char| {
        expression
            .strip_prefix(q)
            .and_then(|rest| rest.strip_suffix(q))
            .filter(|inner| !inner.contains(q))
    };
    if let Some(text) = quoted('"').or_else(|| quoted('\'')).or_else(|| quoted('`')) {
        return Baked::Text(text.to_string());
    }
    match expression {
        "!0" | "true" => return Baked::Flag(true),
        "!1" | "false" => return Baked::Flag(false),
        _ => {}
    }
    if !expression.is_empty() && expression.bytes().all(|b| b.is_ascii_digit()) {
        return Baked::Number(expression.to_string());
    }
    Baked::Other(expression.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Vite 6 (esbuild) writes for the README's Echo options with the default
    /// `.env`, Echo's own `{...options, broadcaster:"pusher"}` first.
    const VITE: &str = r#"this.options={...e,broadcaster:"pusher"});else if(this.options.broadcaster==="socket.io")x();window.Echo=new Ft({broadcaster:"pusher",key:"app-key",cluster:"mt1",wsHost:"127.0.0.1",wsPort:"6001",wssPort:"6001",forceTLS:!1,httpHost:"127.0.0.1",httpPort:"6001",httpsPort:"6001"});"#;

    #[test]
    fn the_options_vite_bakes_in() {
        let options = echo_options(VITE).unwrap();
        assert_eq!(options.broadcaster, "pusher");
        assert_eq!(options.key, Some(Baked::Text("app-key".into())));
        assert_eq!(options.ws_host, Some(Baked::Text("127.0.0.1".into())));
        assert_eq!(options.ws_port, Some(Baked::Text("6001".into())));
        assert_eq!(options.force_tls, Some(Baked::Flag(false)));
    }

    #[test]
    fn other_shapes() {
        let js = r#"new Echo({auth:{headers:{"X-CSRF-TOKEN":t}},'broadcaster':'reverb',key:"k",wsHost:window.location.hostname,wsPort:8080,forceTLS:true})"#;
        let options = echo_options(js).unwrap();
        assert_eq!(options.broadcaster, "reverb");
        assert_eq!(
            options.ws_host,
            Some(Baked::Other("window.location.hostname".into()))
        );
        assert_eq!(options.ws_port, Some(Baked::Number("8080".into())));
        assert_eq!(options.force_tls, Some(Baked::Flag(true)));
        assert_eq!(echo_options("broadcaster:\"pusher\""), None);
        assert_eq!(echo_options("{broadcaster:\"socket.io\",key:\"k\"}"), None);
        // laravel-echo 1.x's defaults, then the app's options.
        let both = r#"_defaultOptions={auth:{headers:{}},broadcaster:"pusher",csrfToken:null,host:null,key:null};new Echo({broadcaster:"pusher",key:"app-key",wsHost:"h"})"#;
        assert_eq!(
            echo_options(both).unwrap().key,
            Some(Baked::Text("app-key".into()))
        );
    }
}
