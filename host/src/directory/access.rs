//! Apps, entitlements, grants, accounts and access profiles.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub name: String,
    pub owner_id: Option<String>,
    /// The connector plugin that provisions this app, once connectors exist.
    pub connector: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entitlement {
    /// `app:slug`.
    pub id: String,
    pub app_id: String,
    pub slug: String,
    pub name: String,
    pub resource_type: String,
    pub resource: Option<String>,
    pub description: Option<String>,
}

/// A user's identity in an app: named by the app and the id the app gives
/// it, and linked to a directory user when keystep knows whose it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub id: String,
    pub app_id: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub attributes: serde_json::Value,
}

/// A user's grant of an entitlement, with what the entitlement belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    pub user_id: String,
    pub entitlement_id: String,
    pub app_id: String,
    pub resource_type: String,
    pub resource: Option<String>,
    pub source: String,
    pub granted_at: String,
}

/// Picks entitlements by what they belong to; every given key must match.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    pub app: Option<String>,
    pub resource_type: Option<String>,
    pub resource: Option<String>,
}

impl Selector {
    pub fn matches(&self, app: &str, resource_type: &str, resource: Option<&str>) -> bool {
        self.app.as_deref().is_none_or(|a| a == app)
            && self
                .resource_type
                .as_deref()
                .is_none_or(|t| t == resource_type)
            && self.resource.as_deref().is_none_or(|r| Some(r) == resource)
    }
}
