//! The directory's interface: what steps, functions and the CLI may read and
//! change, with no database in sight. SQLite ([`super::Directory`]) is the
//! one implementation; a PostgreSQL one implements the same two traits.
//!
//! The event log is part of both: an event is recorded only by a change,
//! inside the change's transaction (so it is a change, and a read-only
//! directory refuses it like any other), and it is read like everything
//! else, from a position on ([`DirectoryReads::events_after`], the seam
//! the trigger matcher reads). A third trait would be one more object that
//! every implementation must keep in the same transaction as the other two.

use serde_json::Value as Json;

use super::{
    Account, App, Campaign, DirError, Entitlement, Event, Grant, Result, ReviewTemplate, Task,
    TaskFilter, Upsert, User,
};

/// Every read of the directory. In a step's plan phase these see what is
/// committed; in its settle phase, the open transaction.
pub trait DirectoryReads {
    fn user(&self, id: &str) -> Result<Option<User>>;

    fn require_user(&self, id: &str) -> Result<User> {
        self.user(id)?
            .ok_or_else(|| DirError::not_found("user", id))
    }

    /// Whether the directory has no users yet (nothing was imported).
    fn is_empty(&self) -> Result<bool>;

    fn users(&self) -> Result<Vec<User>>;

    /// The user with this email, whatever its case (emails are unique so).
    fn user_by_email(&self, email: &str) -> Result<Option<User>>;

    /// The users whose manager is `manager`, by id.
    fn reports_of(&self, manager: &str) -> Result<Vec<User>>;

    /// The users holding a grant of `entitlement`, by id.
    fn holders_of(&self, entitlement: &str) -> Result<Vec<User>>;

    /// The users who have delegated to `id`.
    fn delegators_of(&self, id: &str) -> Result<Vec<String>>;

    /// The user `id` has delegated to, if any.
    fn delegate_of(&self, id: &str) -> Result<Option<String>>;

    /// Counts rows of each directory table, for `directory show`.
    fn counts(&self) -> Result<Vec<(&'static str, i64)>>;

    /// Events from the log, oldest first, optionally about one subject.
    fn events(&self, subject: Option<&str>) -> Result<Vec<Event>>;

    /// At most `limit` events recorded after position `after` (an event's
    /// `seq`; 0 for the start of the log), oldest first.
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>>;

    fn app(&self, id: &str) -> Result<Option<App>>;

    /// The app whose accounts and access connector `connector` manages.
    fn app_with_connector(&self, connector: &str) -> Result<Option<App>>;

    /// The id of `user`'s account in `app`, if the directory knows one
    /// (one not marked deleted first).
    fn account_of(&self, user: &str, app: &str) -> Result<Option<String>>;

    /// Every account in `app`, by id.
    fn accounts_in(&self, app: &str) -> Result<Vec<Account>>;

    /// The account `id` in `app`, if the directory has it.
    fn account(&self, app: &str, id: &str) -> Result<Option<Account>>;

    /// Every account linked to `user`, by app and id.
    fn accounts_of(&self, user: &str) -> Result<Vec<Account>>;

    fn entitlement(&self, id: &str) -> Result<Option<Entitlement>>;

    fn require_entitlement(&self, id: &str) -> Result<Entitlement> {
        self.entitlement(id)?
            .ok_or_else(|| DirError::not_found("entitlement", id))
    }

    /// Every entitlement, by id.
    fn entitlements(&self) -> Result<Vec<Entitlement>>;

    /// The entitlements of `app`, by id.
    fn entitlements_in(&self, app: &str) -> Result<Vec<Entitlement>>;

    /// The grants `user` holds, by entitlement id.
    fn grants_of(&self, user: &str) -> Result<Vec<Grant>>;

    /// Every grant of an entitlement of `app`, by entitlement and user.
    fn grants_in(&self, app: &str) -> Result<Vec<Grant>>;

    fn has_grant(&self, user: &str, entitlement: &str) -> Result<bool>;

    /// An access profile's name.
    fn access_profile(&self, id: &str) -> Result<Option<String>>;

    /// The entitlements an access profile bundles, by id.
    fn profile_entitlements(&self, id: &str) -> Result<Vec<String>>;

    /// The access profiles `user` is enrolled in.
    fn enrollments_of(&self, user: &str) -> Result<Vec<String>>;

    fn task(&self, id: i64) -> Result<Option<Task>>;

    fn require_task(&self, id: i64) -> Result<Task> {
        self.task(id)?
            .ok_or_else(|| DirError::not_found("task", &id.to_string()))
    }

    /// The open task of `kind` for `subject` × `entitlement`, if any.
    fn open_task_for(&self, kind: &str, subject: &str, entitlement: &str) -> Result<Option<Task>>;

    fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>>;

    /// The owner of the app an entitlement belongs to.
    fn app_owner_of(&self, entitlement: &str) -> Result<Option<String>> {
        let e = self.require_entitlement(entitlement)?;
        Ok(self.app(&e.app_id)?.and_then(|a| a.owner_id))
    }

    fn review_template(&self, id: &str) -> Result<Option<ReviewTemplate>>;

    fn campaigns(&self) -> Result<Vec<Campaign>>;
}

/// Every change of the directory. Each appends its event ([`record`]) in
/// the same transaction, so a change and its event commit or roll back
/// together.
///
/// [`record`]: DirectoryChanges::record
pub trait DirectoryChanges: DirectoryReads {
    /// Appends an event to the log.
    fn record(&self, kind: &str, subject: Option<&str>, payload: Json) -> Result<()>;

    /// Creates or replaces a user; records `user_created`, or `user_updated`
    /// with the old and new user when something changed.
    fn put_user(&self, user: &User) -> Result<Upsert>;

    /// Sets a user's status; returns the status it had.
    fn set_user_status(&self, id: &str, status: &str) -> Result<String> {
        let mut user = self.require_user(id)?;
        let old = std::mem::replace(&mut user.status, status.to_string());
        self.put_user(&user)?;
        Ok(old)
    }

    /// Points `user`'s delegation at `delegate`, or removes it; returns the
    /// delegate it had, and whether that changed.
    fn set_delegate(&self, user: &str, delegate: Option<&str>) -> Result<(Option<String>, bool)>;

    fn put_app(&self, app: &App) -> Result<Upsert>;

    fn put_entitlement(&self, e: &Entitlement) -> Result<Upsert>;

    /// Removes an entitlement that nothing holds or names (no grant, task
    /// or access profile); records `entitlement_removed`. Returns false,
    /// and keeps it, when something still does.
    fn remove_entitlement(&self, id: &str) -> Result<bool>;

    /// Adds a grant; records `grant_added`. Returns false if it was held.
    fn add_grant(&self, user: &str, entitlement: &str, source: &str) -> Result<bool>;

    /// Removes a grant; records `grant_removed`. Returns false if not held.
    fn remove_grant(&self, user: &str, entitlement: &str) -> Result<bool>;

    /// Creates or updates an account (a user's identity in an app); records
    /// `account_created` or `account_updated`.
    fn put_account(&self, account: &Json) -> Result<Upsert>;

    /// Creates or replaces an access profile and its entitlements.
    fn put_access_profile(
        &self,
        id: &str,
        name: &str,
        description: Option<&str>,
        entitlements: &[String],
    ) -> Result<Upsert>;

    /// Enrolls `user` in `profile`; records `user_enrolled` if new.
    fn enroll(&self, profile: &str, user: &str) -> Result<bool>;

    /// Unenrolls `user` from `profile`; records `user_unenrolled` if enrolled.
    fn unenroll(&self, profile: &str, user: &str) -> Result<bool>;

    /// Adds an entry to a task's history (for example a connector's answer).
    fn note_task(&self, task: i64, action: &str, detail: Json) -> Result<()>;

    /// Opens a task; records `task_created`.
    fn open_task(
        &self,
        kind: &str,
        subject: &str,
        entitlement: &str,
        assignee: Option<&str>,
        campaign: Option<i64>,
    ) -> Result<Task>;

    /// Hands an open task to `assignee`; records `task_reassigned`.
    fn reassign_task(&self, id: i64, assignee: &str) -> Result<()>;

    /// Completes an open task and carries it out: a grant task adds the
    /// grant, a revoke task removes it, a review decided `revoke` opens a
    /// revoke task. `decision` applies to reviews (`keep` or `revoke`).
    fn complete_task(&self, id: i64, decision: Option<&str>) -> Result<Task>;

    /// Cancels an open task; nothing is carried out.
    fn cancel_task(&self, id: i64) -> Result<Task>;

    fn put_review_template(&self, t: &ReviewTemplate) -> Result<Upsert>;

    /// Opens a campaign; records `campaign_created`.
    fn create_campaign(&self, template: &str, name: &str) -> Result<Campaign>;
}
