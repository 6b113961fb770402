//! Target resolution against the directory's traits, with no SQLite: a fake
//! directory that knows two users and two entitlements, seen by the step as
//! the plan phase sees it (read-only).

use std::path::Path;

use serde_json::{Value as Json, json};

use super::{entitlement_ids, user_ref};
use crate::automation::StepDef;
use crate::directory::{
    Account, App, Campaign, DirError, DirectoryReads, Entitlement, Event, Grant, ReadOnly, Result,
    ReviewTemplate, Task, TaskFilter, User,
};
use crate::error::Error;
use crate::expr::Scope;
use crate::plugins::Plugins;
use crate::steps::{RunInfo, RunStarter, StepCx};

struct Fake {
    users: Vec<User>,
    entitlements: Vec<Entitlement>,
}

/// What target resolution never reads.
const UNUSED: &str = "target resolution does not read this";

impl DirectoryReads for Fake {
    fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(self.users.iter().find(|u| u.id == id).cloned())
    }
    fn entitlement(&self, id: &str) -> Result<Option<Entitlement>> {
        Ok(self.entitlements.iter().find(|e| e.id == id).cloned())
    }
    fn entitlements(&self) -> Result<Vec<Entitlement>> {
        Ok(self.entitlements.clone())
    }
    fn is_empty(&self) -> Result<bool> {
        unreachable!("{UNUSED}")
    }
    fn users(&self) -> Result<Vec<User>> {
        unreachable!("{UNUSED}")
    }
    fn user_by_email(&self, _: &str) -> Result<Option<User>> {
        unreachable!("{UNUSED}")
    }
    fn reports_of(&self, _: &str) -> Result<Vec<User>> {
        unreachable!("{UNUSED}")
    }
    fn holders_of(&self, _: &str) -> Result<Vec<User>> {
        unreachable!("{UNUSED}")
    }
    fn account(&self, _: &str, _: &str) -> Result<Option<Account>> {
        unreachable!("{UNUSED}")
    }
    fn accounts_of(&self, _: &str) -> Result<Vec<Account>> {
        unreachable!("{UNUSED}")
    }
    fn delegators_of(&self, _: &str) -> Result<Vec<String>> {
        unreachable!("{UNUSED}")
    }
    fn delegate_of(&self, _: &str) -> Result<Option<String>> {
        unreachable!("{UNUSED}")
    }
    fn counts(&self) -> Result<Vec<(&'static str, i64)>> {
        unreachable!("{UNUSED}")
    }
    fn events(&self, _: Option<&str>) -> Result<Vec<Event>> {
        unreachable!("{UNUSED}")
    }
    fn events_after(&self, _: i64, _: usize) -> Result<Vec<Event>> {
        unreachable!("{UNUSED}")
    }
    fn app(&self, _: &str) -> Result<Option<App>> {
        unreachable!("{UNUSED}")
    }
    fn app_with_connector(&self, _: &str) -> Result<Option<App>> {
        unreachable!("{UNUSED}")
    }
    fn account_of(&self, _: &str, _: &str) -> Result<Option<String>> {
        unreachable!("{UNUSED}")
    }
    fn accounts_in(&self, _: &str) -> Result<Vec<Account>> {
        unreachable!("{UNUSED}")
    }
    fn entitlements_in(&self, _: &str) -> Result<Vec<Entitlement>> {
        unreachable!("{UNUSED}")
    }
    fn grants_in(&self, _: &str) -> Result<Vec<Grant>> {
        unreachable!("{UNUSED}")
    }
    fn grants_of(&self, _: &str) -> Result<Vec<Grant>> {
        unreachable!("{UNUSED}")
    }
    fn has_grant(&self, _: &str, _: &str) -> Result<bool> {
        unreachable!("{UNUSED}")
    }
    fn access_profile(&self, _: &str) -> Result<Option<String>> {
        unreachable!("{UNUSED}")
    }
    fn profile_entitlements(&self, _: &str) -> Result<Vec<String>> {
        unreachable!("{UNUSED}")
    }
    fn enrollments_of(&self, _: &str) -> Result<Vec<String>> {
        unreachable!("{UNUSED}")
    }
    fn task(&self, _: i64) -> Result<Option<Task>> {
        unreachable!("{UNUSED}")
    }
    fn open_task_for(&self, _: &str, _: &str, _: &str) -> Result<Option<Task>> {
        unreachable!("{UNUSED}")
    }
    fn tasks(&self, _: &TaskFilter) -> Result<Vec<Task>> {
        unreachable!("{UNUSED}")
    }
    fn review_template(&self, _: &str) -> Result<Option<ReviewTemplate>> {
        unreachable!("{UNUSED}")
    }
    fn campaigns(&self) -> Result<Vec<Campaign>> {
        unreachable!("{UNUSED}")
    }
}

struct NoChildren;

impl RunStarter for NoChildren {
    fn start_child(&self, _: &str, _: Json) -> std::result::Result<i64, Error> {
        unreachable!("{UNUSED}")
    }
}

fn user(id: &str) -> User {
    serde_json::from_value(json!({
        "id": id, "email": null, "display_name": id, "username": null, "status": "active",
        "manager_id": null, "department": null, "title": null, "attributes": {}
    }))
    .unwrap()
}

fn entitlement(app: &str, slug: &str, resource_type: &str) -> Entitlement {
    Entitlement {
        id: format!("{app}:{slug}"),
        app_id: app.into(),
        slug: slug.into(),
        name: slug.into(),
        resource_type: resource_type.into(),
        resource: None,
        description: None,
    }
}

fn step() -> StepDef {
    let text = "name: t\ntrigger: manual\nsteps:\n  - id: grant\n    grant_entitlements:\n      user: subject\n      entitlements: [github:admin]\n";
    let mut automation = crate::automation::parse(Path::new("t.yaml"), text).unwrap();
    automation.steps.remove(0)
}

/// Resolves with a step context whose directory is `fake`, read-only.
fn with_cx<T>(fake: &Fake, f: impl FnOnce(&StepCx) -> T) -> T {
    let (def, scope, plugins) = (step(), Scope::empty(), Plugins::none());
    let run = RunInfo {
        id: 1,
        automation: "t".into(),
        subject: Some("u-ada".into()),
        lineage: vec!["t".into()],
    };
    let dir = ReadOnly(fake);
    f(&StepCx {
        def: &def,
        scope: &scope,
        dir: &dir,
        runs: &NoChildren,
        run: &run,
        attempt: 1,
        now: chrono::Utc::now(),
        plugins: &plugins,
    })
}

fn fake() -> Fake {
    Fake {
        users: vec![user("u-ada"), user("u-alan")],
        entitlements: vec![
            entitlement("github", "admin", "org"),
            entitlement("github", "triage", "repo"),
            entitlement("slack", "general", "channel"),
        ],
    }
}

#[test]
fn users_resolve_through_the_directory_traits() {
    with_cx(&fake(), |cx| {
        let subject = user_ref(cx, &json!("subject"), "user", None).unwrap();
        assert_eq!(subject.id, "u-ada");
        let named = user_ref(cx, &json!({"id": "u-alan"}), "user", None).unwrap();
        assert_eq!(named.id, "u-alan");
        let unknown = user_ref(cx, &json!("u-grace"), "user", None).unwrap_err();
        assert_eq!(unknown.message, "`user`: unknown user `u-grace`");
    });
}

#[test]
fn entitlements_resolve_through_the_directory_traits() {
    with_cx(&fake(), |cx| {
        let picked = entitlement_ids(cx, &json!(["slack:general", {"app": "github"}]), "e");
        assert_eq!(
            picked.unwrap(),
            ["slack:general", "github:admin", "github:triage"]
        );
        let unknown = entitlement_ids(cx, &json!("github:owner"), "e").unwrap_err();
        assert_eq!(unknown.message, "unknown entitlement `github:owner`");
    });
}

#[test]
fn the_plan_phase_directory_refuses_every_change() {
    with_cx(&fake(), |cx| {
        let refused = cx.dir.add_grant("u-ada", "github:admin", "test");
        assert!(matches!(refused, Err(DirError::ReadOnly)), "{refused:?}");
        let refused = cx.dir.set_user_status("u-ada", "disabled").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the plan phase reads; changes are made when the step settles"
        );
    });
}
