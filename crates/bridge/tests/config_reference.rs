//! `docs/configuration.md` against the configuration types.
//!
//! The key set comes from the JSON Schema the types derive (`schemars`, feature `schema`), so there
//! is no second, hand-kept list: a key added to a struct and not to the reference (or documented
//! and not in a struct) fails here, with the difference printed. The TOML blocks of the reference,
//! of operations.md, security.md and every flow page, and the demo's configuration must parse with
//! `Config`.
//!
//! Reference format: a section heading (`##` or `###`) whose first code span is a TOML table
//! (`` `[flows.o1]` `` or `` `[[directory]]` ``), then table rows whose first cell lists the keys,
//! relative to the section, as code spans: `` | `reply` | ``, `` | `queues[].queue` | `` (an array
//! of tables), `` | `fields.*.column` | `` (a table of tables keyed by the user). A key's type cell
//! says `*secret*` exactly when the key must be a `${VAR}` reference, and `*ref*` exactly when it
//! may hold references.

use std::collections::{BTreeMap, BTreeSet};

use chatport_bridge::config::{Config, json_schema};
use serde_json::Value;

const REFERENCE: &str = include_str!("../../../docs/configuration.md");
const DEMO: &str = concat!(
    include_str!("../../cli/src/demo.toml"),
    include_str!("../../cli/src/demo_orangelogic.toml")
);

/// How a string key is marked: a `SecretSetting` (*secret*: must be a `${VAR}` reference), a
/// `Setting` (*ref*: may hold references), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Secret,
    Reference,
    Plain,
}

impl Mark {
    fn of(schema: &Value) -> Self {
        if schema.get("x-chatport-secret") == Some(&Value::Bool(true)) {
            Mark::Secret
        } else if schema.get("x-chatport-reference") == Some(&Value::Bool(true)) {
            Mark::Reference
        } else {
            Mark::Plain
        }
    }

    /// From a reference row's type cell.
    fn documented(type_cell: &str) -> Self {
        if type_cell.contains("*secret*") {
            Mark::Secret
        } else if type_cell.contains("*ref*") {
            Mark::Reference
        } else {
            Mark::Plain
        }
    }
}

/// What the schema says about one configuration key.
#[derive(Debug, Default)]
struct Keys {
    /// Keys holding a value (scalar, array of scalars, or a table of scalars) → what kind of string.
    leaves: BTreeMap<String, Mark>,
    /// Keys holding tables or arrays of tables (may be documented, need not be).
    containers: BTreeSet<String>,
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/$defs/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            resolve(root, &root["$defs"][name])
        }
        None => schema,
    }
}

/// The non-null alternatives of an `Option<T>` (`anyOf: [T, null]`), or the schema itself.
fn alternatives<'a>(root: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let schema = resolve(root, schema);
    match schema.get("anyOf").or_else(|| schema.get("oneOf")) {
        Some(Value::Array(list)) => list
            .iter()
            .map(|s| resolve(root, s))
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            .flat_map(|s| alternatives(root, s))
            .collect(),
        _ => vec![schema],
    }
}

fn is_table(schema: &Value) -> bool {
    schema.get("properties").is_some()
}

fn walk(root: &Value, schema: &Value, path: &str, keys: &mut Keys) {
    for schema in alternatives(root, schema) {
        if let Some(Value::Object(properties)) = schema.get("properties") {
            if !path.is_empty() {
                keys.containers.insert(path.to_owned());
            }
            for (name, property) in properties {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                walk(root, property, &child, keys);
            }
            continue;
        }
        if let Some(items) = schema.get("items") {
            let items = alternatives(root, items);
            if items.iter().any(|s| is_table(s)) {
                keys.containers.insert(path.to_owned());
                walk(root, items[0], &format!("{path}[]"), keys);
                continue;
            }
            let mark = items.first().map_or(Mark::Plain, |s| Mark::of(s));
            keys.leaves.insert(path.to_owned(), mark);
            continue;
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object())
            && alternatives(root, values).iter().any(|s| is_table(s))
        {
            keys.containers.insert(path.to_owned());
            walk(root, values, &format!("{path}.*"), keys);
            continue;
        }
        keys.leaves.insert(path.to_owned(), Mark::of(schema));
    }
}

fn schema_keys() -> Keys {
    let root = json_schema();
    let mut keys = Keys::default();
    walk(&root, &root, "", &mut keys);
    keys
}

/// The code spans of a Markdown line, in order.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Documented key → its mark; and every problem with the reference's format.
fn documented_keys() -> (BTreeMap<String, Mark>, Vec<String>) {
    let mut keys = BTreeMap::new();
    let mut problems = Vec::new();
    let mut section: Option<String> = None;
    let mut in_code = false;
    for (n, line) in REFERENCE.lines().enumerate() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if line.starts_with("## ") || line.starts_with("### ") {
            section = code_spans(line).first().and_then(|span| {
                if let Some(array) = span.strip_prefix("[[").and_then(|s| s.strip_suffix("]]")) {
                    Some(format!("{array}[]"))
                } else {
                    span.strip_prefix('[')
                        .and_then(|s| s.strip_suffix(']'))
                        .map(str::to_owned)
                }
            });
            continue;
        }
        let Some(section) = &section else { continue };
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let first = cells[0];
        if first == "Key" || first.starts_with("---") {
            continue;
        }
        let names = code_spans(first);
        if names.is_empty() {
            problems.push(format!(
                "line {}: a row under [{section}] names no key: {line}",
                n + 1
            ));
            continue;
        }
        let mark = Mark::documented(cells.get(1).copied().unwrap_or_default());
        for name in names {
            let key = format!("{section}.{name}");
            if keys.insert(key.clone(), mark).is_some() {
                problems.push(format!("line {}: `{key}` is documented twice", n + 1));
            }
        }
    }
    (keys, problems)
}

#[test]
fn every_key_is_documented_and_every_documented_key_exists() {
    let schema = schema_keys();
    let (documented, mut problems) = documented_keys();
    for (key, mark) in &schema.leaves {
        match documented.get(key) {
            None => problems.push(format!("undocumented: `{key}`")),
            Some(documented) if documented != mark => problems.push(format!(
                "`{key}`: the reference marks it {documented:?}, the type is {mark:?} \
                 (Secret: *secret*, a SecretSetting; Reference: *ref*, a Setting)"
            )),
            Some(_) => {}
        }
    }
    for key in documented.keys() {
        if !schema.leaves.contains_key(key) && !schema.containers.contains(key) {
            problems.push(format!("documented but no such key: `{key}`"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md and the configuration types disagree ({} problems):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn the_schema_walk_sees_the_shapes_it_must() {
    // Guards the walker itself: one key of each shape, so a schemars change that hid keys from
    // the walk cannot make the test above pass vacuously.
    let keys = schema_keys();
    for leaf in [
        "service.listen",
        "store.url",
        "whatsapp.app_secrets",
        "directory[].phone",
        "flows.o1.queues[].queue",
        "flows.o1.properties",
        "flows.c1.fields.*.column",
        "creatio.lookups.case_status_new",
        "flows.c2.window_template.name",
    ] {
        assert!(
            keys.leaves.contains_key(leaf),
            "{leaf} missing from the walk"
        );
    }
    assert_eq!(keys.leaves.get("whatsapp.app_secrets"), Some(&Mark::Secret));
    assert_eq!(keys.leaves.get("store.url"), Some(&Mark::Secret));
    assert_eq!(keys.leaves.get("opentext.css_base"), Some(&Mark::Reference));
    assert_eq!(keys.leaves.get("service.listen"), Some(&Mark::Plain));
    assert!(keys.containers.contains("flows.o1.queues"));
    assert!(keys.leaves.len() > 300, "only {} keys", keys.leaves.len());
}

/// The TOML blocks of a Markdown text, in order, with the heading they stand under.
fn toml_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut heading = String::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            Some(block) if line.starts_with("```") => {
                blocks.push((heading.clone(), std::mem::take(block)));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None if line.starts_with("```toml") => current = Some(String::new()),
            None if line.starts_with('#') => heading = line.to_owned(),
            None => {}
        }
    }
    blocks
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Every Markdown file under `docs/` with its TOML blocks.
fn docs_toml_blocks() -> Vec<(String, String)> {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut files = vec![docs.join("operations.md"), docs.join("security.md")];
    let mut flows: Vec<_> = std::fs::read_dir(docs.join("flows"))
        .expect("docs/flows")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    flows.sort();
    files.extend(flows);
    files
        .into_iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.display().to_string();
            toml_blocks(&text)
                .into_iter()
                .map(move |(heading, block)| (format!("{name} {heading}"), block))
        })
        .collect()
}

#[test]
fn the_reference_examples_and_the_demo_configuration_parse() {
    let mut blocks = toml_blocks(REFERENCE);
    let complete = blocks
        .iter()
        .find(|(heading, _)| heading.contains("complete example"))
        .map(|(_, block)| block.clone())
        .expect("docs/configuration.md has a complete example");
    Config::from_toml_str(&complete).expect("the complete example parses");

    // Every other snippet, laid over the complete example, still parses: no snippet shows a key
    // or a value the types refuse.
    let base: toml::Table = toml::from_str(&complete).expect("the complete example is TOML");
    assert!(
        blocks.len() >= 3,
        "expected several TOML snippets in the reference"
    );
    blocks.extend(docs_toml_blocks());
    for (heading, block) in &blocks {
        let overlay: toml::Table = toml::from_str(block)
            .unwrap_or_else(|e| panic!("the snippet under {heading:?} is not TOML: {e}"));
        let mut merged = base.clone();
        merge(&mut merged, overlay);
        let text = toml::to_string(&merged).expect("serialises");
        if let Err(e) = Config::from_toml_str(&text) {
            panic!("the snippet under {heading:?} does not parse with Config: {e}");
        }
    }

    Config::from_toml_str(DEMO).expect("crates/cli/src/demo.toml parses");
}
