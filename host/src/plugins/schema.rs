//! Checks JSON values against the JSON Schemas connectors declare for
//! their actions and accounts. The subset keystep understands: `type`,
//! `properties`, `required`, `additionalProperties: false`, `enum`,
//! `minLength`, `maxLength`, `pattern`, `minimum`, `maximum` and `items`.
//! Other keywords are ignored.

use serde_json::Value as Json;

/// Every way `value` breaks `schema`, each as `path: what is wrong`.
pub fn violations(schema: &Json, value: &Json) -> Vec<String> {
    let mut found = Vec::new();
    check(schema, value, "$", &mut found);
    found
}

fn type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn check(schema: &Json, value: &Json, path: &str, found: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let Some(expected) = schema.get("type").and_then(Json::as_str) {
        let actual = type_name(value);
        let ok = actual == expected || (expected == "number" && actual == "integer");
        if !ok {
            found.push(format!("{path}: expected {expected}, found {actual}"));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Json::as_array)
        && !options.contains(value)
    {
        let shown: Vec<String> = options.iter().map(ToString::to_string).collect();
        found.push(format!("{path}: must be one of {}", shown.join(", ")));
    }
    match value {
        Json::String(s) => {
            let length = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Json::as_u64)
                && length < min
            {
                found.push(format!("{path}: shorter than {min} characters"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Json::as_u64)
                && length > max
            {
                found.push(format!("{path}: longer than {max} characters"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Json::as_str) {
                match regex::Regex::new(pattern) {
                    Ok(re) if !re.is_match(s) => {
                        found.push(format!("{path}: `{s}` does not match /{pattern}/"))
                    }
                    Err(_) => found.push(format!(
                        "{path}: the schema's pattern /{pattern}/ is invalid"
                    )),
                    Ok(_) => {}
                }
            }
        }
        Json::Number(n) => {
            let n = n.as_f64().unwrap_or_default();
            if let Some(min) = schema.get("minimum").and_then(Json::as_f64)
                && n < min
            {
                found.push(format!("{path}: less than {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Json::as_f64)
                && n > max
            {
                found.push(format!("{path}: more than {max}"));
            }
        }
        Json::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), found);
                }
            }
        }
        Json::Object(fields) => {
            let properties = schema.get("properties").and_then(Json::as_object);
            for required in schema
                .get("required")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
            {
                if !fields.contains_key(required) {
                    found.push(format!("{path}: `{required}` is required"));
                }
            }
            for (key, field) in fields {
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => check(sub, field, &format!("{path}.{key}"), found),
                    None if schema.get("additionalProperties") == Some(&Json::Bool(false)) => {
                        let known: Vec<&String> =
                            properties.map(|p| p.keys().collect()).unwrap_or_default();
                        found.push(format!(
                            "{path}: unknown field `{key}` (known: {})",
                            known
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_each_violation() {
        let schema = json!({
            "type": "object",
            "properties": {
                "login": {"type": "string", "pattern": "^[a-z]+$"},
                "age": {"type": "integer", "minimum": 18}
            },
            "required": ["login"],
            "additionalProperties": false
        });
        assert!(violations(&schema, &json!({"login": "ada", "age": 36})).is_empty());
        assert_eq!(
            violations(&schema, &json!({"login": "Ada", "age": 3, "x": 1})),
            vec![
                "$.age: less than 18",
                "$.login: `Ada` does not match /^[a-z]+$/",
                "$: unknown field `x` (known: age, login)",
            ]
        );
        assert_eq!(
            violations(&schema, &json!({})),
            vec!["$: `login` is required"]
        );
        assert_eq!(
            violations(&schema, &json!([])),
            vec!["$: expected object, found array"]
        );
    }
}
