//! What an import changed: one [`Change`] per row, counted by kind in a
//! [`Summary`].

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    User,
    App,
    Entitlement,
    Grant,
    Account,
    AccessProfile,
    Enrollment,
    Delegation,
    ReviewTemplate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Added,
    Updated,
    /// A user a snapshot no longer lists: marked `deleted`, not removed.
    Deleted,
    Removed,
}

/// One row an import changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub kind: Kind,
    pub id: String,
    pub action: Action,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = serde_json::to_value(self.kind).unwrap_or_default();
        let action = serde_json::to_value(self.action).unwrap_or_default();
        write!(
            f,
            "{} {} {}",
            kind.as_str().unwrap_or_default().replace('_', " "),
            self.id,
            action.as_str().unwrap_or_default()
        )
    }
}

/// How many rows of each kind changed, and how.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Counts {
    pub added: usize,
    pub updated: usize,
    pub deleted: usize,
    pub removed: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub users: Counts,
    pub apps: Counts,
    pub entitlements: Counts,
    pub grants: Counts,
    pub accounts: Counts,
    pub access_profiles: Counts,
    pub enrollments: Counts,
    pub delegations: Counts,
    pub review_templates: Counts,
}

impl Summary {
    /// Each kind with its counts, in the order a file lists them.
    pub fn kinds(&self) -> [(&'static str, Counts); 9] {
        [
            ("users", self.users),
            ("apps", self.apps),
            ("entitlements", self.entitlements),
            ("grants", self.grants),
            ("accounts", self.accounts),
            ("access profiles", self.access_profiles),
            ("enrollments", self.enrollments),
            ("delegations", self.delegations),
            ("review templates", self.review_templates),
        ]
    }

    /// `users 2 added, 1 deleted; grants 3 removed`, or `no changes`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .kinds()
            .iter()
            .filter_map(|(kind, c)| {
                let counts: Vec<String> = [
                    (c.added, "added"),
                    (c.updated, "updated"),
                    (c.deleted, "marked deleted"),
                    (c.removed, "removed"),
                ]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
                (!counts.is_empty()).then(|| format!("{kind} {}", counts.join(", ")))
            })
            .collect();
        if parts.is_empty() {
            "no changes".into()
        } else {
            parts.join("; ")
        }
    }

    pub fn of(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            let counts = match c.kind {
                Kind::User => &mut s.users,
                Kind::App => &mut s.apps,
                Kind::Entitlement => &mut s.entitlements,
                Kind::Grant => &mut s.grants,
                Kind::Account => &mut s.accounts,
                Kind::AccessProfile => &mut s.access_profiles,
                Kind::Enrollment => &mut s.enrollments,
                Kind::Delegation => &mut s.delegations,
                Kind::ReviewTemplate => &mut s.review_templates,
            };
            match c.action {
                Action::Added => counts.added += 1,
                Action::Updated => counts.updated += 1,
                Action::Deleted => counts.deleted += 1,
                Action::Removed => counts.removed += 1,
            }
        }
        s
    }
}
