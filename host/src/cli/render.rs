//! Printing: JSON for scripts, aligned tables and short forms for people.
//! Every string that can carry plugin or user data is escaped
//! ([`escape`]) before it reaches a terminal; JSON is escaped by serde.

use std::io::IsTerminal;

use serde::Serialize;

pub use crate::text::{escape, escape_lines};

use crate::store::runs::{Attempt, Run};

pub fn json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Prints rows under headers, each column as wide as its widest cell.
/// Cells are escaped.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| escape(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

/// `1.2s`, `35ms`, `3m05s`, `6d 23h`.
pub fn duration(ms: i64) -> String {
    let s = ms / 1000;
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if ms < 86_400_000 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// A mark for a state, with colour on a terminal.
pub fn mark(state: &str) -> String {
    let (symbol, colour) = match state {
        "succeeded" => ("✓", "32"),
        "skipped" => ("↷", "90"),
        "waiting" => ("⏳", "33"),
        "failed" => ("✗", "31"),
        "cancelled" => ("⊘", "90"),
        _ => ("•", "0"),
    };
    if std::io::stdout().is_terminal() {
        format!("\x1b[{colour}m{symbol}\x1b[0m")
    } else {
        symbol.to_string()
    }
}

/// One line about a step attempt: mark, step, type, attempt, time, detail.
pub fn attempt_line(a: &Attempt) -> String {
    let time = a.duration_ms().map(duration).unwrap_or_default();
    let retry = if a.attempt > 1 {
        format!(" (attempt {})", a.attempt)
    } else {
        String::new()
    };
    let detail = match a.state.as_str() {
        "failed" => a.error.clone().unwrap_or_default(),
        "waiting" => match a
            .output
            .as_ref()
            .and_then(|o| o.get("until"))
            .and_then(|u| u.as_str())
        {
            Some(until) => format!("until {until}"),
            None => "waiting on a child run".into(),
        },
        "skipped" => "condition false".into(),
        _ => summary(a.output.as_ref()),
    };
    format!(
        "  {} {:<22} {:<24} {:>7}{retry}  {}",
        mark(a.state.as_str()),
        escape(&a.step_id),
        a.kind,
        time,
        escape(&detail)
    )
}

/// A short description of a step output: the counts of its lists, its ids.
fn summary(output: Option<&serde_json::Value>) -> String {
    let Some(serde_json::Value::Object(map)) = output else {
        return String::new();
    };
    map.iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Array(items) if !items.is_empty() => {
                Some(format!("{k}: {}", items.len()))
            }
            serde_json::Value::Number(n) if k.ends_with("id") => Some(format!("{k} {n}")),
            serde_json::Value::String(s)
                if k.ends_with("status")
                    || [
                        "automation",
                        "action",
                        "account_id",
                        "level",
                        "via",
                        "channel",
                    ]
                    .contains(&k.as_str()) =>
            {
                Some(format!("{k} {s}"))
            }
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line about a run's end.
pub fn run_line(run: &Run) -> String {
    let error = run
        .error
        .as_deref()
        .map(|e| format!(": {}", escape(e)))
        .unwrap_or_default();
    format!(
        "{} run {} ({}) {}{error}",
        mark(run.state.as_str()),
        run.id,
        escape(&run.automation),
        run.state
    )
}
