//! The protobuf JSON of the spec's values (`cel.expr.Value`, and the
//! well-known types inside an `objectValue`), as `cel::Value`; and the
//! comparison of an expected value with the one keystep computed.

use std::collections::HashMap;
use std::mem::discriminant;
use std::sync::Arc;

use base64::Engine;
use cel::Value;
use cel::objects::{Key, Map};
use serde_json::Value as Json;

/// Why a value cannot reach keystep: the not-applicable category.
pub type Unsupported = &'static str;

pub const MESSAGES: Unsupported = "protobuf messages and enums";

/// A `cel.expr.Value`: `{"int64Value": "1"}`, `{"listValue": {...}}`, ...
pub fn value(v: &Json) -> Result<Value, Unsupported> {
    let (kind, inner) = only_field(v);
    Ok(match kind {
        "nullValue" => Value::Null,
        "boolValue" => Value::Bool(inner.as_bool().expect("boolValue")),
        "int64Value" => Value::Int(integer(inner)),
        "uint64Value" => Value::UInt(integer(inner)),
        "doubleValue" => Value::Float(double(inner)),
        "stringValue" => string(inner),
        "bytesValue" => bytes(inner),
        "listValue" => list(inner.get("values"), value)?,
        "mapValue" => map(inner)?,
        "objectValue" => any(inner)?,
        "enumValue" => return Err(MESSAGES),
        other => panic!("a value of kind {other}: {v}"),
    })
}

/// The one field a JSON `oneof` object sets.
fn only_field(v: &Json) -> (&str, &Json) {
    let object = v.as_object().filter(|o| o.len() == 1);
    let (kind, inner) = object
        .and_then(|o| o.iter().next())
        .unwrap_or_else(|| panic!("not a value of one kind: {v}"));
    (kind.as_str(), inner)
}

/// An integer as protobuf JSON writes it: a number, or a string for 64 bits.
fn integer<T: std::str::FromStr>(v: &Json) -> T
where
    T::Err: std::fmt::Debug,
{
    match v {
        Json::String(s) => s.parse().expect("an integer"),
        Json::Number(n) => n.to_string().parse().expect("an integer"),
        other => panic!("not an integer: {other}"),
    }
}

/// A double as protobuf JSON writes it: a number, or `"NaN"`, `"Infinity"`.
fn double(v: &Json) -> f64 {
    match v {
        Json::Number(n) => n.as_f64().expect("a double"),
        Json::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().expect("a double"),
        },
        other => panic!("not a double: {other}"),
    }
}

fn string(v: &Json) -> Value {
    Value::String(Arc::new(v.as_str().expect("a string").to_string()))
}

fn bytes(v: &Json) -> Value {
    let text = v.as_str().expect("base64 bytes");
    let data = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64 bytes");
    Value::Bytes(Arc::new(data))
}

fn list(
    items: Option<&Json>,
    each: fn(&Json) -> Result<Value, Unsupported>,
) -> Result<Value, Unsupported> {
    let items = items
        .and_then(Json::as_array)
        .map_or(&[][..], Vec::as_slice);
    let values = items.iter().map(each).collect::<Result<Vec<_>, _>>()?;
    Ok(Value::List(Arc::new(values)))
}

fn map(v: &Json) -> Result<Value, Unsupported> {
    let entries = v.get("entries").and_then(Json::as_array);
    let mut out = HashMap::new();
    for entry in entries.map_or(&[][..], Vec::as_slice) {
        let key = match value(&entry["key"])? {
            Value::Int(i) => Key::Int(i),
            Value::UInt(u) => Key::Uint(u),
            Value::Bool(b) => Key::Bool(b),
            Value::String(s) => Key::String(s),
            other => panic!("a map key {other:?}"),
        };
        out.insert(key, value(&entry["value"])?);
    }
    Ok(Value::Map(Map { map: Arc::new(out) }))
}

/// A `google.protobuf.Any` in JSON: `@type` and the message's JSON, under
/// `value` for the well-known types.
fn any(v: &Json) -> Result<Value, Unsupported> {
    let url = v["@type"].as_str().expect("an Any's @type");
    let name = url.rsplit('/').next().unwrap_or(url);
    let inner = v.get("value").unwrap_or(&Json::Null);
    well_known(name, inner)
}

/// A well-known type's JSON, as the CEL value it stands for. Wrappers
/// unwrap; `Struct`, `Value` and `ListValue` are JSON; a missing `value` is
/// the message's default.
fn well_known(name: &str, v: &Json) -> Result<Value, Unsupported> {
    let present = !v.is_null();
    Ok(match name.strip_prefix("google.protobuf.") {
        Some("Int32Value" | "Int64Value") => Value::Int(if present { integer(v) } else { 0 }),
        Some("UInt32Value" | "UInt64Value") => Value::UInt(if present { integer(v) } else { 0 }),
        Some("FloatValue" | "DoubleValue") => Value::Float(if present { double(v) } else { 0.0 }),
        Some("BoolValue") => Value::Bool(v.as_bool().unwrap_or(false)),
        Some("StringValue") if present => string(v),
        Some("BytesValue") if present => bytes(v),
        Some("StringValue") => string(&Json::String(String::new())),
        Some("BytesValue") => Value::Bytes(Arc::default()),
        Some("Duration") => Value::Duration(duration(v.as_str().unwrap_or("0s"))),
        Some("Timestamp") => Value::Timestamp(
            chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a timestamp"))
                .expect("an RFC 3339 timestamp"),
        ),
        Some("Value" | "Struct" | "ListValue") => json(v),
        Some("Any") => any(v)?,
        _ => return Err(MESSAGES),
    })
}

/// A protobuf JSON duration: `"-1.5s"`, `"123.321456789s"`.
fn duration(text: &str) -> chrono::Duration {
    let seconds = text.strip_suffix('s').expect("a duration in seconds");
    let (negative, seconds) = match seconds.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, seconds),
    };
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    let nanos = format!("{fraction:0<9}")
        .parse::<i64>()
        .expect("nanoseconds");
    let d = chrono::Duration::seconds(whole.parse().expect("seconds"))
        + chrono::Duration::nanoseconds(nanos);
    if negative { -d } else { d }
}

/// `google.protobuf.Value` JSON: numbers are doubles.
fn json(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Float(n.as_f64().expect("a number")),
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(items.iter().map(json).collect())),
        Json::Object(fields) => {
            let entries = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json(v)))
                .collect();
            Value::Map(Map {
                map: Arc::new(entries),
            })
        }
    }
}

/// Whether `got` is `want`: the same kind of value, equal. Stricter than
/// CEL's `==`, which has `1 == 1u` and `1 == 1.0`: the spec's runners compare
/// the result's protobuf form, where an int is not a uint. NaN is NaN (the
/// spec expects NaN from `0.0 / 0.0`), and 0.0 is -0.0.
pub fn same(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Float(a), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same(a, b))
        }
        (Value::Map(a), Value::Map(b)) => {
            a.map.len() == b.map.len()
                && a.map
                    .iter()
                    .all(|(k, v)| b.map.get(k).is_some_and(|w| same(v, w)))
        }
        _ => discriminant(want) == discriminant(got) && want == got,
    }
}

/// `v` for the report, cut to a line.
pub fn show(v: &Value) -> String {
    cut(&format!("{v:?}"))
}

pub fn cut(text: &str) -> String {
    const MAX: usize = 160;
    let text = text.replace('\n', " ");
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_protobuf_json() {
        assert_eq!(value(&json!({"uint64Value": "7"})), Ok(Value::UInt(7)));
        assert!(matches!(value(&json!({"doubleValue": "NaN"})), Ok(Value::Float(f)) if f.is_nan()));
        assert_eq!(
            duration("-123.321456789s"),
            -chrono::Duration::nanoseconds(123_321_456_789)
        );
        let wrapped = json!({"objectValue": {"@type": "type.googleapis.com/google.protobuf.Int32Value", "value": 2}});
        assert_eq!(value(&wrapped), Ok(Value::Int(2)));
        let message = json!({"objectValue": {"@type": "type.googleapis.com/cel.expr.conformance.proto3.TestAllTypes"}});
        assert_eq!(value(&message), Err(MESSAGES));
    }

    #[test]
    fn an_int_is_not_a_uint_nor_a_double() {
        assert!(!same(&Value::UInt(1), &Value::Int(1)));
        assert!(!same(&Value::Float(1.0), &Value::Int(1)));
        assert!(same(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
        let list = |v| Value::List(Arc::new(vec![v]));
        assert!(!same(&list(Value::Int(1)), &list(Value::UInt(1))));
    }
}
