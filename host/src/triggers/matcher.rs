//! Which automations an event starts, and what each run sees as
//! `ctx.trigger`: decisions with their tests beside them, reading nothing
//! but what a `when:` asks of the directory.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::automation::Automation;
use crate::directory::Event;
use crate::expr::Lookup;

/// The trigger kinds the event log feeds; each matches events of its name.
pub const EVENT_TRIGGERS: &[&str] = &[
    "user_created",
    "user_updated",
    "account_created",
    "account_updated",
    "grant_added",
    "grant_removed",
];

/// The `ctx.trigger` of a run an event starts: the event's payload, its
/// subject as `user_id`, and the event itself as `event` (`seq`, `kind`,
/// `actor`, `at`). The subject's directory record is added as `user` when
/// the run is started, as for any run naming a `user_id`.
pub fn context(event: &Event) -> Json {
    let mut ctx = match &event.payload {
        Json::Object(fields) => fields.clone(),
        _ => serde_json::Map::new(),
    };
    if let Some(subject) = &event.subject_id {
        ctx.entry("user_id")
            .or_insert_with(|| Json::String(subject.clone()));
    }
    ctx.insert(
        "event".into(),
        json!({"seq": event.seq, "kind": event.kind, "actor": event.actor, "at": event.at}),
    );
    Json::Object(ctx)
}

/// Whether `automation` reacts to `event`, whose context is `ctx`: a
/// trigger of the event's kind, its `app` and `entitlement` settings, and
/// its `when:`. A `when:` that cannot be evaluated is an error, said with
/// the automation's name.
pub fn wants(
    automation: &Automation,
    event: &Event,
    ctx: &Json,
    directory: &Arc<dyn Lookup>,
) -> Result<bool, String> {
    let trigger = &automation.trigger;
    if trigger.kind != event.kind {
        return Ok(false);
    }
    if let Some(app) = trigger.settings.get("app")
        && ctx.get("app_id") != Some(app)
    {
        return Ok(false);
    }
    if let Some(Json::String(wanted)) = trigger.settings.get("entitlement") {
        let entitlement = &ctx["entitlement"];
        let named = |key: &str| entitlement[key].as_str() == Some(wanted.as_str());
        if !named("id") && !named("slug") {
            return Ok(false);
        }
    }
    trigger
        .holds(ctx, directory)
        .map_err(|e| format!("{}: trigger condition: {e}", automation.name))
}

/// The run whose step made the change an event records: its actor is `run
/// ID/STEP/ATTEMPT` (or `run ID`).
pub fn causing_run(actor: &str) -> Option<i64> {
    let rest = actor.strip_prefix("run ")?;
    rest.split('/').next()?.parse().ok()
}

/// The lineage of a run of `automation` that an event of a run with
/// lineage `cause` starts (empty: the event came from outside any run).
/// Refused, with the chain, if the automation is already in it (a loop
/// between automations) or the chain would pass `max_depth`.
pub fn lineage(cause: &[String], automation: &str, max_depth: u32) -> Result<Vec<String>, String> {
    let mut chain = cause.to_vec();
    chain.push(automation.to_string());
    if cause.iter().any(|a| a == automation) {
        return Err(format!("a loop between automations: {}", chain.join(" → ")));
    }
    if chain.len() as u32 > max_depth {
        return Err(format!(
            "past the depth limit ({max_depth}): {}",
            chain.join(" → ")
        ));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::automation::parse;

    fn automation(trigger: &str) -> Automation {
        let text = format!(
            "name: a\ntrigger:\n  {trigger}\nsteps:\n  - id: s\n    wait: {{ duration: 1m }}\n"
        );
        parse(Path::new("a.yaml"), &text).unwrap()
    }

    /// An empty store's directory, for `when:` conditions to read.
    fn directory() -> Arc<dyn Lookup> {
        static STORE: std::sync::OnceLock<(tempfile::TempDir, crate::store::Store)> =
            std::sync::OnceLock::new();
        let (_, store) = STORE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = crate::store::Store::open(&dir.path().join("k.db")).unwrap();
            (dir, store)
        });
        Arc::new(crate::store::DirectoryLookup(store.clone()))
    }

    fn event(kind: &str, payload: Json) -> Event {
        Event {
            seq: 41,
            kind: kind.into(),
            subject_id: Some("u-ada".into()),
            payload,
            actor: "import".into(),
            at: "2026-12-01T09:00:00Z".into(),
        }
    }

    #[test]
    fn the_context_is_the_payload_with_its_subject_and_the_event() {
        let e = event(
            "user_updated",
            json!({"old_user": {"title": "a"}, "new_user": {"title": "b"}}),
        );
        let ctx = context(&e);
        assert_eq!(ctx["user_id"], "u-ada");
        assert_eq!(ctx["new_user"]["title"], "b");
        assert_eq!(ctx["event"]["seq"], 41);
        assert_eq!(ctx["event"]["actor"], "import");
    }

    #[test]
    fn an_automation_wants_events_of_its_kind_that_pass_its_settings_and_when() {
        let joined = automation("user_created: { when: 'ctx.trigger.user.department == \"IT\"' }");
        let it = event("user_created", json!({"user": {"department": "IT"}}));
        let sales = event("user_created", json!({"user": {"department": "Sales"}}));
        assert_eq!(wants(&joined, &it, &context(&it), &directory()), Ok(true));
        assert_eq!(
            wants(&joined, &sales, &context(&sales), &directory()),
            Ok(false)
        );
        let moved = event("user_updated", json!({"user": {"department": "IT"}}));
        assert_eq!(
            wants(&joined, &moved, &context(&moved), &directory()),
            Ok(false)
        );

        let admin = automation("grant_added: { app: aws, entitlement: admin }");
        let grant = |app: &str, slug: &str| {
            event(
                "grant_added",
                json!({"app_id": app, "entitlement": {"id": format!("{app}:{slug}"), "slug": slug}}),
            )
        };
        for (e, wanted) in [
            (grant("aws", "admin"), true),
            (grant("aws", "billing"), false),
            (grant("gcp", "admin"), false),
        ] {
            assert_eq!(
                wants(&admin, &e, &context(&e), &directory()),
                Ok(wanted),
                "{:?}",
                e.payload
            );
        }
        let by_id = automation("grant_added: { entitlement: 'aws:admin' }");
        let e = grant("aws", "admin");
        assert_eq!(wants(&by_id, &e, &context(&e), &directory()), Ok(true));
    }

    #[test]
    fn a_when_that_cannot_be_evaluated_is_an_error_naming_the_automation() {
        let bad = automation("user_created: { when: 'ctx.trigger.user.age > 3' }");
        let e = event("user_created", json!({"user": {}}));
        let err = wants(&bad, &e, &context(&e), &directory()).unwrap_err();
        assert!(err.starts_with("a: trigger condition:"), "{err}");
    }

    #[test]
    fn the_causing_run_is_read_from_the_actor() {
        assert_eq!(causing_run("run 12/disable/1"), Some(12));
        assert_eq!(causing_run("run 7"), Some(7));
        assert_eq!(causing_run("import"), None);
        assert_eq!(causing_run("runner 1/x"), None);
    }

    #[test]
    fn loops_and_runaway_chains_are_refused_with_the_chain() {
        assert_eq!(lineage(&[], "a", 8), Ok(vec!["a".to_string()]));
        let cause = vec!["a".to_string(), "b".to_string()];
        assert_eq!(lineage(&cause, "c", 8).unwrap(), ["a", "b", "c"]);
        assert_eq!(
            lineage(&cause, "a", 8).unwrap_err(),
            "a loop between automations: a → b → a"
        );
        assert!(
            lineage(&cause, "c", 2)
                .unwrap_err()
                .starts_with("past the depth limit (2)")
        );
    }
}
