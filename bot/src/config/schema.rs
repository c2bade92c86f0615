//! JSON Schemas for `branches.toml` and `bundle.yaml`, generated from the types the loader
//! deserialises so they cannot drift from it. Editors use them to flag unknown keys and wrong
//! types while typing (taplo for TOML, yaml-language-server for YAML). The loader stays the
//! authority for what a schema cannot say: caps naming existing bundles, the pin inside
//! `allowed`, constraint syntax, one branch per minor.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

use super::branches::RawTrain;
use super::bundle::RawBundle;

/// The schemas as (file name, schema). They are committed under `schema/` at the repository
/// root, where the first line of each config file points editors; `bot/tests/config_schema.rs`
/// fails when those copies are stale.
pub fn json_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "branches.schema.json",
            root_schema::<RawTrain>(
                "urn:ake-bot:schema:branches",
                "ake-bot branches.toml",
                "The release train of an ake-bot config repository: `main` plus one branch per \
                 supported Kubernetes minor. Unknown keys are errors. Reference: README.md, \
                 \"branches.toml\".",
            ),
        ),
        (
            "bundle.schema.json",
            root_schema::<RawBundle>(
                "urn:ake-bot:schema:bundle",
                "ake-bot bundle.yaml",
                "One addon of an ake-bot config repository (bundles/<addon>/bundle.yaml): where \
                 its chart comes from, the pinned version and the range the bot may move it in. \
                 Unknown keys are errors. Reference: README.md, \"bundles/<addon>/bundle.yaml\".",
            ),
        ),
    ]
}

fn root_schema<T: JsonSchema>(id: &str, title: &str, description: &str) -> Value {
    // Draft-07: every editor integration reads it; support for 2019-09 and later is uneven.
    let generated = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut root = Map::new();
    // `$schema` and `$id` first, and our title and description instead of the raw type's.
    if let Some(meta) = generated.get("$schema") {
        root.insert("$schema".into(), meta.clone());
    }
    root.insert("$id".into(), id.into());
    root.insert("title".into(), title.into());
    root.insert("description".into(), description.into());
    if let Value::Object(fields) = generated.to_value() {
        for (key, value) in fields {
            root.entry(key).or_insert(value);
        }
    }
    let mut root = Value::Object(root);
    unwrap_descriptions(&mut root);
    root
}

/// Join the lines of every description into one paragraph: doc comments are wrapped for the
/// source's width, and editors show a description's line breaks as they are.
fn unwrap_descriptions(schema: &mut Value) {
    match schema {
        Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                match value {
                    Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|para| para.split_whitespace().collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => unwrap_descriptions(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}
