//! Tasks (grant, revoke, review), review templates and campaigns.

use serde::{Deserialize, Serialize};

/// A unit of work for a person (or, later, a connector): grant or revoke an
/// entitlement, or review a grant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub subject_id: String,
    pub assignee_id: Option<String>,
    pub entitlement_id: String,
    pub campaign_id: Option<i64>,
    pub decision: Option<String>,
    pub origin: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub const TASK_KINDS: &[&str] = &["grant", "revoke", "review"];

/// Which tasks to list. Empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub assignee: Option<String>,
    pub subject: Option<String>,
    pub kinds: Vec<String>,
    pub states: Vec<String>,
}

/// How a campaign picks each review task's reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewTemplate {
    pub id: String,
    pub name: String,
    /// `manager`, `app_owner`, or `user:<id>`.
    pub reviewer: String,
    /// Who reviews when the policy finds nobody (a user id).
    pub fallback_reviewer: Option<String>,
    /// The apps in scope; `None` means every app.
    pub apps: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    pub id: i64,
    pub template_id: String,
    pub name: String,
    pub state: String,
    pub created_at: String,
    pub origin: Option<String>,
}
