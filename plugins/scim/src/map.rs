//! What SCIM resources become in keystep (pure): users become accounts,
//! groups resources, a group's membership the entitlement
//! `group:<id>:member`, and each member a grant of it.

use serde_json::{Value, json};

/// The entitlement of membership in group `id`.
pub fn member_entitlement(group: &str) -> String {
    format!("group:{group}:member")
}

/// The group whose membership `slug` is (`group:<id>:member`).
pub fn group_of(slug: &str) -> Option<&str> {
    slug.strip_prefix("group:")?
        .strip_suffix(":member")
        .filter(|id| !id.is_empty())
}

/// A SCIM User as a synced account: `id`, `username`, `email` (the primary
/// one, else the first), `display_name`, `status` (`active` or
/// `disabled`), and `profile` (name, title and the like).
pub fn account(user: &Value) -> Value {
    let emails = user["emails"].as_array();
    let email = emails
        .and_then(|all| {
            all.iter()
                .find(|e| e["primary"] == json!(true))
                .or_else(|| all.first())
        })
        .and_then(|e| e["value"].as_str());
    let name = &user["name"];
    let display_name = user["displayName"]
        .as_str()
        .map(str::to_string)
        .or_else(|| name["formatted"].as_str().map(str::to_string))
        .or_else(|| {
            let parts: Vec<&str> = [&name["givenName"], &name["familyName"]]
                .iter()
                .filter_map(|p| p.as_str())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| text(&user["userName"]).to_string());
    let active = user["active"].as_bool().unwrap_or(true);
    let mut profile = serde_json::Map::new();
    for key in [
        "name",
        "title",
        "userType",
        "externalId",
        "locale",
        "timezone",
    ] {
        if !user[key].is_null() {
            profile.insert(key.into(), user[key].clone());
        }
    }
    json!({
        "id": user["id"],
        "username": user["userName"],
        "email": email,
        "display_name": display_name,
        "status": if active { "active" } else { "disabled" },
        "profile": profile,
    })
}

/// A SCIM Group as a resource.
pub fn resource(group: &Value) -> Value {
    json!({"id": group["id"], "type": "group", "display_name": group_name(group)})
}

/// Membership of a SCIM Group as an entitlement.
pub fn entitlement(group: &Value) -> Value {
    json!({
        "slug": member_entitlement(text(&group["id"])),
        "resource": group["id"],
        "display_name": format!("{} member", group_name(group)),
    })
}

/// A group's members that are users, as grants (nested groups are left
/// out: keystep grants are held by people).
pub fn grants(group: &Value) -> impl Iterator<Item = Value> + '_ {
    let slug = member_entitlement(text(&group["id"]));
    group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"].as_str().is_none_or(|t| t == "User"))
        .filter_map(|m| m["value"].as_str())
        .map(move |user| json!({"user": user, "entitlement": slug}))
}

/// The fields of a new SCIM User from `create-account`'s fields: as given,
/// with the core schema named, active unless said otherwise; a bare
/// `email` becomes the primary email.
pub fn new_user(fields: &Value) -> Value {
    let mut user = fields.clone();
    if let Some(email) = fields["email"].as_str() {
        user["emails"] = json!([{"value": email, "primary": true}]);
        user.as_object_mut().map(|u| u.remove("email"));
    }
    // An account keystep creates can sign in unless the fields say not.
    if user.get("active").is_none() {
        user["active"] = json!(true);
    }
    user["schemas"] = json!([CORE_USER]);
    user
}

/// The core User schema (RFC 7643 section 4.1).
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// A PATCH request's schema (RFC 7644 section 3.5.2).
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A PATCH body of one operation.
pub fn patch(op: &str, path: Option<&str>, value: Option<Value>) -> Value {
    let mut operation = json!({"op": op});
    if let Some(path) = path {
        operation["path"] = json!(path);
    }
    if let Some(value) = value {
        operation["value"] = value;
    }
    json!({"schemas": [PATCH_OP], "Operations": [operation]})
}

/// The account schema: the core attributes keystep knows, and the simple
/// (string, boolean, integer) single-valued attributes the server's User
/// schema announces beside them.
pub fn account_schema(announced: &[Value]) -> Value {
    let mut properties = json!({
        "userName": {"type": "string", "minLength": 1},
        "email": {"type": "string"},
        "displayName": {"type": "string"},
        "name": {
            "type": "object",
            "properties": {
                "givenName": {"type": "string"},
                "familyName": {"type": "string"},
                "formatted": {"type": "string"},
            },
        },
        "emails": {"type": "array", "items": {"type": "object"}},
        "active": {"type": "boolean"},
    });
    for attribute in announced {
        let name = text(&attribute["name"]);
        let kind = match attribute["type"].as_str() {
            Some("string" | "reference" | "dateTime") => "string",
            Some("boolean") => "boolean",
            Some("integer") => "integer",
            _ => continue,
        };
        let writable = attribute["mutability"].as_str() != Some("readOnly");
        if name.is_empty() || attribute["multiValued"] == json!(true) || !writable {
            continue;
        }
        if properties.get(name).is_none() {
            properties[name] = json!({"type": kind});
        }
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": ["userName"],
        "additionalProperties": false,
    })
}

fn group_name(group: &Value) -> &str {
    group["displayName"]
        .as_str()
        .unwrap_or_else(|| text(&group["id"]))
}

pub fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}
