//! The event log on SQLite: read from a position on, as the trigger matcher
//! will, and shown as it always was.

use serde_json::json;

use super::Directory;
use crate::directory::{DirectoryChanges, DirectoryReads, User};
use crate::store::{Keep, Store};

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
        .write_blocking(Keep::IfOk, |conn| {
            let d = Directory::new(conn, "test".into());
            for id in ["u-1", "u-2", "u-3"] {
                d.put_user(&user(id))?;
            }
            d.set_user_status("u-1", "disabled").map(drop)
        })
        .unwrap();
    let reader = store.reader().unwrap();
    let d = Directory::new(&reader, "test".into());
    let all = d.events(None).unwrap();
    assert_eq!(all.len(), 4);
    let after = d.events_after(all[0].seq, 2).unwrap();
    assert_eq!(after, all[1..3]);
    assert_eq!(d.events_after(all[3].seq, 10).unwrap(), []);
    let rest = d.events_after(all[1].seq, 10).unwrap();
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
