//! The event log, through the store's read traits: read from a position on, as the trigger matcher
//! will, and shown as it always was.

use serde_json::json;

use keystep::directory::User;
use keystep::store::{Keep, Store};

fn user(id: &str) -> User {
    serde_json::from_value(json!({
        "id": id, "email": null, "display_name": id, "username": null, "status": "active",
        "manager_id": null, "department": null, "title": null, "attributes": {}
    }))
    .unwrap()
}

#[test]
fn events_are_read_after_a_position_in_order_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("keystep.db")).unwrap();
    store
        .write_blocking(Keep::IfOk, |tx| {
            let d = tx.directory("test");
            for id in ["u-1", "u-2", "u-3"] {
                d.put_user(&user(id))?;
            }
            d.set_user_status("u-1", "disabled").map(drop)
        })
        .unwrap();
    let read = store.read(|tx| {
        let d = tx.directory();
        let all = d.events(None)?;
        let events_after = |after, limit| d.events_after(after, limit);
        anyhow::Ok((
            all.clone(),
            events_after(all[0].seq, 2)?,
            events_after(all[3].seq, 10)?,
            events_after(all[1].seq, 10)?,
        ))
    });
    let (all, after, none, rest) = read.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(after, all[1..3]);
    assert_eq!(none, []);
    let kinds: Vec<_> = rest.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["user_created", "user_updated"]);
    assert_eq!(rest[1].subject_id.as_deref(), Some("u-1"));
    assert_eq!(rest[1].payload["new_user"]["status"], "disabled");
    let shown = json!(rest[1]);
    let mut keys: Vec<_> = shown.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["actor", "at", "kind", "payload", "seq", "subject_id"]
    );
    assert_eq!(shown["actor"], "test");
}
