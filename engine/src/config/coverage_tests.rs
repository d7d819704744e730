//! Tests that keep the key table whole: every field of the options has a
//! key, `firn.example.toml` names every key with its default, and every
//! `FIRN_*` name used in the repository is an option or reserved.

use std::path::Path;

use super::keys::KEYS;
use super::*;

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firn.example.toml")
}

/// Uncomments `# key = value` lines (the keys without a default).
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| {
            let rest = line.strip_prefix("# ").unwrap_or(line);
            let is_setting = rest.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
            if is_setting {
                rest
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_file_gives_every_key_its_default() {
    let text = std::fs::read_to_string(example_path()).expect("firn.example.toml");
    let example = Options::from_toml_file(example_path()).expect("the example parses");
    let defaults = Options::new(example.url.clone(), example.local_dir.clone());
    assert_eq!(
        format!("{example:?}"),
        format!("{defaults:?}"),
        "the example's values are the defaults"
    );

    let all = Config::from_toml(&uncommented(&text), "firn.example.toml (uncommented)")
        .expect("the uncommented example parses");
    all.to_options().expect("and is valid");
    for key in KEYS {
        assert!(
            all.entries.iter().any(|e| std::ptr::eq(e.key, key)),
            "firn.example.toml does not mention {} (add it, commented out if it has no default)",
            key.path()
        );
    }
}

/// The field names in a `Debug` rendering, with the struct holding each.
fn debug_fields(debug: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut last_word = String::new();
    let mut chars = debug.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            c if c.is_alphanumeric() || c == '_' => word.push(c),
            _ => {
                if !word.is_empty() {
                    last_word = std::mem::take(&mut word);
                }
                match c {
                    '{' => stack.push(last_word.clone()),
                    '}' => {
                        stack.pop();
                    }
                    ':' if chars.peek() == Some(&' ') => {
                        fields.push((stack.last().cloned().unwrap_or_default(), last_word.clone()));
                    }
                    _ => {}
                }
            }
        }
    }
    fields
}

#[test]
fn every_option_field_has_a_key() {
    let opts = Options::new("memory://x", "/x");
    let fields = debug_fields(&format!("{opts:?}"));
    assert!(fields.len() > 50, "{fields:?}");
    for (owner, field) in fields {
        let (table, name) = match owner.as_str() {
            "Options"
                if matches!(
                    field.as_str(),
                    "store" | "compaction" | "object_store" | "request_prices"
                ) =>
            {
                continue
            }
            "Options" => ("", field.as_str()),
            "CompactionConfig" => ("compaction", field.as_str()),
            "RequestPrices" => ("request_prices", field.as_str()),
            "StoreOptions" => match field.split_once('_') {
                Some((prefix, rest)) if tables().contains(&prefix) => (prefix, rest),
                _ => ("store", field.as_str()),
            },
            other => panic!("unexpected struct {other} in Options' Debug"),
        };
        assert!(
            KEYS.iter().any(|k| k.table == table && k.name == name),
            "{owner}::{field} has no configuration key (expected {name} {})",
            where_(table)
        );
    }
}

/// Every `FIRN_*` name the repository uses is an option or reserved, so no
/// test or script sets a variable that would make the command line fail.
#[test]
fn every_firn_variable_in_the_repository_is_known() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut unknown = Vec::new();
    // These two hold deliberately misspelt names.
    let skip = [
        root.join("engine/src/config/tests.rs"),
        root.join("tools/tests/cli_config.rs"),
    ];
    let mut stack = vec![root.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name != ".ci" || name == "target" || name == "node_modules"
            {
                continue;
            }
            if skip.contains(&path) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(
                ext,
                "rs" | "py" | "sh" | "md" | "toml" | "yml" | "yaml" | ""
            ) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            files += 1;
            for (i, _) in text.match_indices("FIRN_") {
                let tail = &text[i..];
                let len = tail
                    .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(tail.len());
                let var = &tail[..len];
                let prefix_mention = var.ends_with('_')
                    || tail[len..].starts_with('*')
                    || tail[len..].starts_with('<');
                if var.len() <= 5
                    || prefix_mention
                    || (i > 0 && text.as_bytes()[i - 1].is_ascii_alphanumeric())
                {
                    continue;
                }
                if !is_reserved(var) && !KEYS.iter().any(|k| k.env_name() == var) {
                    unknown.push(format!("{var} in {}", path.display()));
                }
            }
        }
    }
    assert!(files > 100, "walked only {files} files");
    assert!(
        unknown.is_empty(),
        "FIRN_ variables that are neither options nor in config::RESERVED_ENV: {unknown:?}"
    );
}
