//! Strings and lists beyond CEL's standard library: case, trimming,
//! splitting and joining for names and emails, and `distinct`, `flatten`
//! and `sort` for lists of ids.
//!
//! These are the functions whose results can outgrow their input (a
//! `replace` of every character, a `split` into a million parts), so each
//! charges the budget for what it will build before building it. (cel's own
//! `strings` and `lists` extensions do not, and are not enabled.)

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use cel::Value;

use super::{text, type_name};
use crate::expr::budget;

/// Charges `units` now, before the work they pay for.
fn spend(units: usize) -> Result<(), String> {
    budget::spend(units as u64).map_err(|over| over.to_string())
}

fn string(s: String) -> Value {
    Value::String(Arc::new(s))
}

fn items<'a>(value: &'a Value, what: &str) -> Result<&'a [Value], String> {
    match value {
        Value::List(items) => Ok(items),
        other => Err(format!("{what} must be a list, not {}", type_name(other))),
    }
}

pub(super) fn lower(args: &[Value]) -> Result<Value, String> {
    Ok(string(text(&args[0], "`lower()`'s value")?.to_lowercase()))
}

pub(super) fn upper(args: &[Value]) -> Result<Value, String> {
    Ok(string(text(&args[0], "`upper()`'s value")?.to_uppercase()))
}

pub(super) fn trim(args: &[Value]) -> Result<Value, String> {
    Ok(string(
        text(&args[0], "`trim()`'s value")?.trim().to_string(),
    ))
}

/// `s.split(separator)`: the parts between separators; an empty separator
/// splits into characters.
pub(super) fn split(args: &[Value]) -> Result<Value, String> {
    let s = text(&args[0], "`split()`'s value")?;
    let separator = text(&args[1], "the separator")?;
    let parts: Vec<&str> = if separator.is_empty() {
        spend(s.chars().count())?;
        s.char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect()
    } else {
        spend(s.matches(separator).count() + 1)?;
        s.split(separator).collect()
    };
    let parts = parts.into_iter().map(|p| string(p.to_string())).collect();
    Ok(Value::List(Arc::new(parts)))
}

/// `s.replace(old, new)`: every `old` replaced.
pub(super) fn replace(args: &[Value]) -> Result<Value, String> {
    let s = text(&args[0], "`replace()`'s value")?;
    let old = text(&args[1], "the text to replace")?;
    let new = text(&args[2], "the replacement")?;
    if old.is_empty() {
        return Err("the text to replace must not be empty".into());
    }
    let count = s.matches(old).count();
    let grown = count.saturating_mul(new.len());
    spend(count + (s.len().saturating_add(grown)) / 64)?;
    Ok(string(s.replace(old, new)))
}

/// `list.join(separator?)`: a list of strings as one.
pub(super) fn join(args: &[Value]) -> Result<Value, String> {
    let items = items(&args[0], "`join()`'s value")?;
    let separator = match args.get(1) {
        Some(s) => text(s, "the separator")?,
        None => "",
    };
    let parts = items
        .iter()
        .enumerate()
        .map(|(i, item)| text(item, &format!("item {i} of the list")))
        .collect::<Result<Vec<_>, _>>()?;
    let length = parts.iter().map(|p| p.len()).sum::<usize>()
        + separator.len() * parts.len().saturating_sub(1);
    spend(length / 64)?;
    Ok(string(parts.join(separator)))
}

/// `list.distinct()`: the items in order, each only the first time it
/// appears (CEL equality: `1 == 1u`).
pub(super) fn distinct(args: &[Value]) -> Result<Value, String> {
    let items = items(&args[0], "`distinct()`'s value")?;
    let mut scalars = HashSet::new();
    let mut others: Vec<&Value> = Vec::new();
    let mut kept = Vec::new();
    for item in items {
        let first = match scalar_key(item) {
            Some(key) => scalars.insert(key),
            None => {
                spend(others.len())?;
                let new = !others.contains(&item);
                others.push(item);
                new
            }
        };
        if first {
            kept.push(item.clone());
        }
    }
    Ok(Value::List(Arc::new(kept)))
}

/// A hashable stand-in for a scalar, equal where CEL equality is.
fn scalar_key(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(s) => format!("s{s}"),
        Value::Int(n) => format!("n{n}"),
        Value::UInt(n) => format!("n{n}"),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => format!("n{}", *f as i64),
        Value::Float(f) => format!("f{f}"),
        Value::Bool(b) => format!("b{b}"),
        Value::Null => "null".into(),
        _ => return None,
    })
}

/// `list.flatten()`: the items of each list item in its place (one level).
pub(super) fn flatten(args: &[Value]) -> Result<Value, String> {
    let items = items(&args[0], "`flatten()`'s value")?;
    let mut flat = Vec::new();
    for item in items {
        match item {
            Value::List(inner) => flat.extend(inner.iter().cloned()),
            other => flat.push(other.clone()),
        }
    }
    Ok(Value::List(Arc::new(flat)))
}

/// `list.sort()`: strings, numbers, timestamps or durations in ascending
/// order.
pub(super) fn sort(args: &[Value]) -> Result<Value, String> {
    let items = items(&args[0], "`sort()`'s value")?;
    let n = items.len();
    spend(n * (usize::BITS - n.leading_zeros()) as usize)?;
    if let Some((a, b)) = items
        .iter()
        .zip(items.iter().skip(1))
        .find(|(a, b)| compare(a, b).is_none())
    {
        return Err(format!(
            "`sort()` orders strings, numbers, timestamps or durations of one kind; the list has {} and {}",
            type_name(a),
            type_name(b)
        ));
    }
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| compare(a, b).unwrap_or(Ordering::Equal));
    Ok(Value::List(Arc::new(sorted)))
}

/// The order of two values of a kind `sort` orders.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(n) => Some(*n as f64),
        Value::UInt(n) => Some(*n as f64),
        Value::Float(f) if !f.is_nan() => Some(*f),
        _ => None,
    }
}
