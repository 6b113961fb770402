//! A directory that reads and refuses every change: what a step's plan
//! phase gets, so that its types say it cannot change anything.

use serde_json::Value as Json;

use super::{
    Account, App, Campaign, DirError, DirectoryChanges, DirectoryReads, Entitlement, Event, Grant,
    Result, ReviewTemplate, Task, TaskFilter, Upsert, User,
};

/// Reads through to any directory; every change fails.
pub struct ReadOnly<'d>(pub &'d dyn DirectoryReads);

impl DirectoryReads for ReadOnly<'_> {
    fn user(&self, id: &str) -> Result<Option<User>> {
        self.0.user(id)
    }

    fn is_empty(&self) -> Result<bool> {
        self.0.is_empty()
    }

    fn users(&self) -> Result<Vec<User>> {
        self.0.users()
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.0.user_by_email(email)
    }

    fn reports_of(&self, manager: &str) -> Result<Vec<User>> {
        self.0.reports_of(manager)
    }

    fn holders_of(&self, entitlement: &str) -> Result<Vec<User>> {
        self.0.holders_of(entitlement)
    }

    fn delegators_of(&self, id: &str) -> Result<Vec<String>> {
        self.0.delegators_of(id)
    }

    fn delegate_of(&self, id: &str) -> Result<Option<String>> {
        self.0.delegate_of(id)
    }

    fn counts(&self) -> Result<Vec<(&'static str, i64)>> {
        self.0.counts()
    }

    fn events(&self, subject: Option<&str>) -> Result<Vec<Event>> {
        self.0.events(subject)
    }

    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>> {
        self.0.events_after(after, limit)
    }

    fn app(&self, id: &str) -> Result<Option<App>> {
        self.0.app(id)
    }

    fn app_with_connector(&self, connector: &str) -> Result<Option<App>> {
        self.0.app_with_connector(connector)
    }

    fn account_of(&self, user: &str, app: &str) -> Result<Option<String>> {
        self.0.account_of(user, app)
    }

    fn accounts_in(&self, app: &str) -> Result<Vec<Account>> {
        self.0.accounts_in(app)
    }

    fn account(&self, app: &str, id: &str) -> Result<Option<Account>> {
        self.0.account(app, id)
    }

    fn accounts_of(&self, user: &str) -> Result<Vec<Account>> {
        self.0.accounts_of(user)
    }

    fn entitlements_in(&self, app: &str) -> Result<Vec<Entitlement>> {
        self.0.entitlements_in(app)
    }

    fn grants_in(&self, app: &str) -> Result<Vec<Grant>> {
        self.0.grants_in(app)
    }

    fn entitlement(&self, id: &str) -> Result<Option<Entitlement>> {
        self.0.entitlement(id)
    }

    fn entitlements(&self) -> Result<Vec<Entitlement>> {
        self.0.entitlements()
    }

    fn grants_of(&self, user: &str) -> Result<Vec<Grant>> {
        self.0.grants_of(user)
    }

    fn has_grant(&self, user: &str, entitlement: &str) -> Result<bool> {
        self.0.has_grant(user, entitlement)
    }

    fn access_profile(&self, id: &str) -> Result<Option<String>> {
        self.0.access_profile(id)
    }

    fn profile_entitlements(&self, id: &str) -> Result<Vec<String>> {
        self.0.profile_entitlements(id)
    }

    fn enrollments_of(&self, user: &str) -> Result<Vec<String>> {
        self.0.enrollments_of(user)
    }

    fn task(&self, id: i64) -> Result<Option<Task>> {
        self.0.task(id)
    }

    fn open_task_for(&self, kind: &str, subject: &str, entitlement: &str) -> Result<Option<Task>> {
        self.0.open_task_for(kind, subject, entitlement)
    }

    fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        self.0.tasks(filter)
    }

    fn review_template(&self, id: &str) -> Result<Option<ReviewTemplate>> {
        self.0.review_template(id)
    }

    fn campaigns(&self) -> Result<Vec<Campaign>> {
        self.0.campaigns()
    }
}

impl DirectoryChanges for ReadOnly<'_> {
    fn record(&self, _kind: &str, _subject: Option<&str>, _payload: Json) -> Result<()> {
        Err(DirError::ReadOnly)
    }

    fn put_user(&self, _user: &User) -> Result<Upsert> {
        Err(DirError::ReadOnly)
    }

    fn set_delegate(&self, _user: &str, _delegate: Option<&str>) -> Result<(Option<String>, bool)> {
        Err(DirError::ReadOnly)
    }

    fn put_app(&self, _app: &App) -> Result<Upsert> {
        Err(DirError::ReadOnly)
    }

    fn put_entitlement(&self, _e: &Entitlement) -> Result<Upsert> {
        Err(DirError::ReadOnly)
    }

    fn remove_entitlement(&self, _id: &str) -> Result<bool> {
        Err(DirError::ReadOnly)
    }

    fn add_grant(&self, _user: &str, _entitlement: &str, _source: &str) -> Result<bool> {
        Err(DirError::ReadOnly)
    }

    fn remove_grant(&self, _user: &str, _entitlement: &str) -> Result<bool> {
        Err(DirError::ReadOnly)
    }

    fn put_account(&self, _account: &Json) -> Result<Upsert> {
        Err(DirError::ReadOnly)
    }

    fn put_access_profile(
        &self,
        _id: &str,
        _name: &str,
        _description: Option<&str>,
        _entitlements: &[String],
    ) -> Result<Upsert> {
        Err(DirError::ReadOnly)
    }

    fn enroll(&self, _profile: &str, _user: &str) -> Result<bool> {
        Err(DirError::ReadOnly)
    }

    fn unenroll(&self, _profile: &str, _user: &str) -> Result<bool> {
        Err(DirError::ReadOnly)
    }

    fn note_task(&self, _task: i64, _action: &str, _detail: Json) -> Result<()> {
        Err(DirError::ReadOnly)
    }

    fn open_task(
        &self,
        _kind: &str,
        _subject: &str,
        _entitlement: &str,
        _assignee: Option<&str>,
        _campaign: Option<i64>,
    ) -> Result<Task> {
        Err(DirError::ReadOnly)
    }

    fn reassign_task(&self, _id: i64, _assignee: &str) -> Result<()> {
        Err(DirError::ReadOnly)
    }

    fn complete_task(&self, _id: i64, _decision: Option<&str>) -> Result<Task> {
        Err(DirError::ReadOnly)
    }

    fn cancel_task(&self, _id: i64) -> Result<Task> {
        Err(DirError::ReadOnly)
    }

    fn put_review_template(&self, _t: &ReviewTemplate) -> Result<Upsert> {
        Err(DirError::ReadOnly)
    }

    fn create_campaign(&self, _template: &str, _name: &str) -> Result<Campaign> {
        Err(DirError::ReadOnly)
    }
}
