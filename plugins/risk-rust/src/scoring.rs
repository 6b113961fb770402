//! The scoring, identical in the Python and JavaScript versions. It reads
//! `{"user": {...}, "grants": [...]}` straight into borrowed strings and
//! writes a typed output: about three times faster than going through
//! `serde_json::Value`. Input it cannot read that way (odd field types) gives
//! `None`; the general path in `lib.rs` then normalizes it (and words the
//! errors) and calls this again.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
struct Input<'a> {
    #[serde(borrow)]
    user: User<'a>,
    #[serde(borrow, default)]
    grants: Option<Vec<Grant<'a>>>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(default)]
    id: Value,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    manager_id: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Grant<'a> {
    #[serde(borrow, default)]
    entitlement: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    slug: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Output<'a> {
    user: &'a Value,
    score: i64,
    level: &'static str,
    grants: usize,
    reasons: Vec<String>,
    scored: Vec<Scored<'a>>,
}

#[derive(Serialize)]
struct Scored<'a> {
    entitlement: &'a str,
    points: i64,
}

/// The scored output as JSON, or `None` when the input is not in this shape.
pub fn score(input: &str) -> Option<String> {
    let input: Input = serde_json::from_str(input).ok()?;
    let grants = input.grants.unwrap_or_default();
    let mut total = 0;
    let mut reasons = Vec::new();
    let mut scored = Vec::with_capacity(grants.len());
    for grant in &grants {
        let entitlement = grant.entitlement.as_deref().unwrap_or("");
        let slug = grant.slug.as_deref().unwrap_or("");
        let points = if ["admin", "owner", "root"].iter().any(|w| slug.contains(w)) {
            reasons.push(format!("{entitlement} is privileged"));
            30
        } else if ["write", "maintain", "deploy", "billing"]
            .iter()
            .any(|w| slug.contains(w))
        {
            reasons.push(format!("{entitlement} can change things"));
            10
        } else {
            2
        };
        total += points;
        scored.push(Scored {
            entitlement,
            points,
        });
    }
    let status = input.user.status.as_deref().unwrap_or("");
    if status != "active" && !grants.is_empty() {
        total += 25;
        reasons.push(format!("{status} user still holds {} grants", grants.len()));
    }
    if input.user.manager_id.is_none() {
        total += 5;
        reasons.push("no manager".to_string());
    }
    let score = total.min(100);
    let level = if score >= 60 {
        "high"
    } else if score >= 25 {
        "medium"
    } else {
        "low"
    };
    let output = Output {
        user: &input.user.id,
        score,
        level,
        grants: grants.len(),
        reasons,
        scored,
    };
    super::host::log(
        super::Level::Info,
        &format!("scored {}: {score}", output.user.as_str().unwrap_or("")),
    );
    serde_json::to_string(&output).ok()
}
