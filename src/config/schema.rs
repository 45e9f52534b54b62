//! `pxdeploy schema`: the JSON Schema (draft-07, what taplo and editors read) of
//! `pxdeploy.toml`, generated from the structs that load the file, so it cannot drift.
//! Unknown keys are refused (`additionalProperties: false`, from `deny_unknown_fields`).
//! The types with a reader of their own get their schema here, next to each other.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::validate::{SECRET_MAX, SECRET_MIN};
use super::{ComposeFiles, Config, DockerInstall};

/// The whole schema, as JSON.
pub fn schema() -> serde_json::Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Config>();
    add_targets(&mut schema);
    guest_sections(&mut schema);
    schema.insert(
        "not".into(),
        serde_json::json!({ "required": ["container", "vm"] }),
    );
    schema.insert("title".into(), "pxdeploy.toml".into());
    schema.insert(
        "description".into(),
        "The configuration of pxdeploy: deploy a Docker Compose application into an LXC container or a QEMU VM on a Proxmox VE host. Every key: docs/configuration.md.".into(),
    );
    schema.to_value()
}

/// `default_targets` and `[targets.<name>]` (read by [`super::targets`], not by the typed
/// `Config`): each target table may set keys of `proxmox`, `container`, `vm`, `health` and
/// `env.values`, each checked by the top-level section's own schema. A file has `[container]`
/// or `[vm]`, not both (each target too: checked when loading).
fn add_targets(schema: &mut Schema) {
    let section = |name: &str| serde_json::json!({ "$ref": format!("#/properties/{name}") });
    let target = serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "proxmox": { "type": "object" },
            "container": { "type": "object" },
            "vm": { "type": "object" },
            "health": section("health"),
            "env": {
                "type": "object",
                "additionalProperties": false,
                "properties": { "values": { "type": "object" } }
            }
        }
    });
    if let Some(props) = schema
        .as_object_mut()
        .and_then(|o| o.get_mut("properties"))
        .and_then(|p| p.as_object_mut())
    {
        props.insert(
            "targets".into(),
            serde_json::json!({
                "type": "object",
                "description": "several targets: each overrides the top-level sections key by key (docs/targets.md)",
                "additionalProperties": target
            }),
        );
        props.insert(
            "default_targets".into(),
            serde_json::json!({ "type": "array", "items": { "type": "string" } }),
        );
    }
}

/// `[container]` and `[vm]` are optional tables (one of them per target, checked when
/// loading), never `null`: TOML has none, and a wrong key inside must be reported at its
/// own path (`/container/vmid`), not as "matches none of" the `Option`'s `anyOf`.
fn guest_sections(schema: &mut Schema) {
    let Some(props) = schema
        .as_object_mut()
        .and_then(|o| o.get_mut("properties"))
        .and_then(|p| p.as_object_mut())
    else {
        return;
    };
    for (key, def) in [("container", "Container"), ("vm", "Vm")] {
        if let Some(prop) = props.get_mut(key).and_then(|p| p.as_object_mut()) {
            prop.remove("anyOf");
            prop.insert("$ref".into(), format!("#/definitions/{def}").into());
        }
    }
}

/// `[env.secrets]`: name = length of the secret to generate, or where to read it from.
pub(super) fn secret_lengths(_: &mut SchemaGenerator) -> Schema {
    let source = |key: &str, what: &str| {
        serde_json::json!({
            "type": "object",
            "description": what,
            "additionalProperties": false,
            "required": [key],
            "properties": { key: { "type": "string", "minLength": 1 } }
        })
    };
    let mut from_env = source("from_env", "this local environment variable");
    from_env["properties"]["from_env"]["pattern"] = "^[A-Za-z_][A-Za-z0-9_]*$".into();
    json_schema!({
        "type": "object",
        "description": "name = length (16–4096): generated once, then kept forever; or a source read on every deploy",
        "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
        "additionalProperties": {
            "anyOf": [
                { "type": "integer", "minimum": SECRET_MIN, "maximum": SECRET_MAX },
                from_env,
                source("from_file", "this local file (relative to the config file), one trailing newline dropped"),
                source("command", "this local `sh -c` command's stdout, trimmed (30 s at most)")
            ]
        }
    })
}

/// `[env.values]`: name = text; whole numbers and booleans are written as their text.
pub(super) fn value_texts(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "description": "name = value, written to .env on every deploy (text, a whole number or true/false)",
        "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
        "additionalProperties": { "type": ["string", "integer", "boolean"] }
    })
}

impl JsonSchema for ComposeFiles {
    fn schema_name() -> Cow<'static, str> {
        "ComposeFiles".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "One compose file, or several in order (each one `-f`, later ones override)",
            "anyOf": [
                { "type": "string", "minLength": 1 },
                { "type": "array", "items": { "type": "string", "minLength": 1 }, "minItems": 1 }
            ]
        })
    }
}

impl JsonSchema for DockerInstall {
    fn schema_name() -> Cow<'static, str> {
        "DockerInstall".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "\"script\" (Docker's convenience script), \"apt\" (the distribution's packages), or a shell command of your own",
            "type": "string",
            "examples": ["script", "apt"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::schema;

    #[test]
    fn every_table_refuses_unknown_keys() {
        let s = schema();
        assert_eq!(s["additionalProperties"], false);
        let defs = s["definitions"].as_object().expect("definitions");
        for table in [
            "Proxmox",
            "Container",
            "Vm",
            "App",
            "Env",
            "Health",
            "Backup",
            "Deploy",
            "Hooks",
            "Firewall",
            "ReleaseCommand",
        ] {
            assert_eq!(
                defs[table]["additionalProperties"], false,
                "{table}: {}",
                defs[table]
            );
        }
        // Keys that are not in the file (filled by load) are not in the schema.
        let container = defs["Container"]["properties"].as_object().unwrap();
        assert!(container.contains_key("ip") && container.contains_key("gateway"));
        assert!(!container.contains_key("network"));
        assert!(!s["properties"].as_object().unwrap().contains_key("path"));
    }
}
