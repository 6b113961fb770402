//! `keystep plugins check`: a component against the WIT contract, each
//! check passed or failed with what it found. It is a component of a world
//! keystep serves; it links against what the host provides (a missing
//! import is named); a connector's `info` answers in time and well formed,
//! its schemas are valid; and each action, or a function's `call`, is
//! tried with sample input under the plugin's limits. Run offline
//! ([`Plugins::go_offline`]): a call that needs its app answers with a
//! typed error, which passes; a trap, a limit or output that is not JSON
//! fails.

use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use super::schema::Schema;
use super::{Plugins, World, detail};
use crate::error::Error;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

fn check(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> Check {
    Check {
        check: name.into(),
        passed,
        detail: detail.into(),
    }
}

/// Every check of plugin `name`, in order; later checks are skipped once
/// one that they need fails.
pub fn run(plugins: &Plugins, name: &str) -> Vec<Check> {
    let entry = match plugins.find(name) {
        Ok(entry) => entry,
        Err(e) => return vec![check("component", false, detail(name, &e))],
    };
    let Some(world) = entry.found.world else {
        let exports = entry.found.exports.join(", ");
        return vec![check(
            "component",
            false,
            format!("exports neither world's interface (it exports: {exports})"),
        )];
    };
    let mut out = vec![check(
        "component",
        true,
        format!(
            "a {world} of keystep:plugin@{}; imports {}",
            entry.found.interface(),
            entry.found.imports.join(", ")
        ),
    )];
    if let Err(why) = &entry.grants {
        out.push(check("grant file", false, why.clone()));
        return out;
    }
    if let Err(e) = plugins.load(name, world) {
        out.push(check("loads and links", false, detail(name, &e)));
        return out;
    }
    out.push(check(
        "loads and links",
        true,
        "every import is one keystep provides",
    ));
    match world {
        World::Connector => connector(plugins, name, &mut out),
        World::Function => {
            let called = plugins.call_function(name, &json!({}), None);
            out.push(answered(name, "call with {}", called.map(drop)));
        }
    }
    out
}

fn connector(plugins: &Plugins, name: &str, out: &mut Vec<Check>) {
    let info = match plugins.connector_info(name) {
        Ok(info) => info,
        Err(e) => return out.push(check("info", false, detail(name, &e))),
    };
    out.push(check(
        "info",
        true,
        format!(
            "{} {}: {}; actions: {}",
            info.name,
            info.version,
            info.capabilities.join(", "),
            info.actions.len()
        ),
    ));
    if let Some(schema) = &info.account_schema {
        out.push(valid_schema("account schema", schema));
    }
    for action in &info.actions {
        let what = format!("action `{}`", action.name);
        let valid = valid_schema(&format!("{what}: arguments schema"), &action.arguments);
        let usable = valid.passed;
        out.push(valid);
        if !usable {
            continue;
        }
        let args = sample(&action.arguments);
        let fits = super::schema::violations(&action.arguments, &args);
        if !fits.is_empty() {
            let why = format!("not tried: no sample fits its schema ({})", fits.join("; "));
            out.push(check(what, true, why));
            continue;
        }
        let key = format!("check/{}", action.name);
        let done = plugins.invoke_action(name, &action.name, &args, &key);
        out.push(answered(
            name,
            &format!("{what} with {args}"),
            done.map(drop),
        ));
    }
}

fn valid_schema(what: &str, schema: &Json) -> Check {
    match Schema::compile(schema) {
        Ok(_) => check(what, true, "valid"),
        Err(why) => check(what, false, why),
    }
}

/// A call's outcome as a check: a value or a typed error passes; a trap,
/// a limit, output that is not JSON or an error code that is no word fails.
fn answered(name: &str, what: &str, result: Result<(), Error>) -> Check {
    match result {
        Ok(()) => check(what, true, "answered"),
        Err(e) => {
            let code = e.code.clone().unwrap_or_default();
            let broken = matches!(
                code.as_str(),
                "trap" | "limit" | "invalid-output" | "plugin-error"
            );
            let said = format!("{code}: {}", detail(name, &e));
            match broken {
                true => check(what, false, said),
                false => check(what, true, format!("answered a typed error, {said}")),
            }
        }
    }
}

/// The smallest value `schema` plausibly takes: `const`, the first of
/// `enum`, else by `type`: the required properties of an object, text of
/// `minLength` (at least one character), the `minimum` number, `false`,
/// `minItems` items. Checked against the schema before it is used.
pub fn sample(schema: &Json) -> Json {
    let Json::Object(s) = schema else {
        return json!({});
    };
    if let Some(value) = s.get("const") {
        return value.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Json::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let kind = match s.get("type") {
        Some(Json::String(t)) => t.as_str(),
        Some(Json::Array(types)) => types.first().and_then(Json::as_str).unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ => "null",
    };
    let at_least = |key: &str| s.get(key).and_then(Json::as_u64).unwrap_or(0);
    match kind {
        "object" => {
            let properties = s.get("properties").and_then(Json::as_object);
            let mut object = Map::new();
            for key in s
                .get("required")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let Some(key) = key.as_str() else { continue };
                let property = properties.and_then(|p| p.get(key)).unwrap_or(&Json::Null);
                object.insert(key.to_string(), sample(property));
            }
            Json::Object(object)
        }
        "string" => json!("x".repeat(at_least("minLength").clamp(1, 64) as usize)),
        "integer" => json!(
            s.get("minimum")
                .and_then(Json::as_f64)
                .map_or(0, |m| m.ceil() as i64)
        ),
        "number" => json!(s.get("minimum").and_then(Json::as_f64).unwrap_or(0.0)),
        "boolean" => json!(false),
        "array" => {
            let item = sample(s.get("items").unwrap_or(&Json::Null));
            Json::Array(vec![item; at_least("minItems").min(16) as usize])
        }
        _ => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_fits_the_schemas_connectors_declare() {
        let schema = json!({
            "type": "object",
            "properties": {
                "login": {"type": "string", "minLength": 3},
                "mode": {"enum": ["soft", "hard"]},
                "days": {"type": "integer", "minimum": 1.5},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "note": {"type": "string"},
            },
            "required": ["login", "mode", "days", "tags"],
            "additionalProperties": false,
        });
        let value = sample(&schema);
        assert_eq!(
            value,
            json!({"login": "xxx", "mode": "soft", "days": 2, "tags": ["x", "x"]})
        );
        assert!(super::super::schema::violations(&schema, &value).is_empty());
        assert_eq!(sample(&json!({"const": 7})), json!(7));
    }
}
