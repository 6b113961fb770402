use serde_json::json;

use super::*;
use crate::plugins::SyncKind;

fn user(id: &str, email: &str) -> User {
    User {
        id: id.into(),
        email: Some(email.into()),
        display_name: id.into(),
        username: Some(format!("{id}-login")),
        status: "active".into(),
        manager_id: None,
        department: None,
        title: None,
        attributes: json!({}),
    }
}

/// A listing of `users` (id, email), one group `eng` and `grants`
/// (account, slug).
fn listing(users: &[(&str, &str)], grants: &[(&str, &str)]) -> Listing {
    let mut l = Listing::default();
    let users = users
        .iter()
        .map(|(id, email)| json!({"id": id, "email": email}));
    l.add(SyncKind::Users, 1, users.collect()).unwrap();
    let resource = json!({"id": "eng", "type": "group", "display_name": "Engineering"});
    l.add(SyncKind::Resources, 1, vec![resource]).unwrap();
    let e = json!({"slug": "group:eng:member", "resource": "eng", "display_name": "Engineering member"});
    l.add(SyncKind::Entitlements, 1, vec![e]).unwrap();
    let grants = grants
        .iter()
        .map(|(u, e)| json!({"user": u, "entitlement": e}));
    l.add(SyncKind::Grants, 1, grants.collect()).unwrap();
    l
}

/// What the directory holds after `plan` is applied to `current`.
fn applied(mut current: Current, plan: &Plan) -> Current {
    for change in &plan.changes {
        match change {
            Change::EntitlementCreated { entitlement }
            | Change::EntitlementUpdated { entitlement } => {
                current.entitlements.retain(|e| e.id != entitlement.id);
                current.entitlements.push(entitlement.clone());
            }
            Change::AccountCreated { account }
            | Change::AccountUpdated { account }
            | Change::AccountGone { account } => {
                current.accounts.retain(|a| a.id != account.id);
                current.accounts.push(account.clone());
            }
            Change::GrantAdded {
                user_id,
                entitlement_id,
            } => current.grants.push(Grant {
                user_id: user_id.clone(),
                entitlement_id: entitlement_id.clone(),
                app_id: "app".into(),
                resource_type: "group".into(),
                resource: None,
                source: "sync".into(),
                granted_at: String::new(),
            }),
            Change::GrantRemoved {
                user_id,
                entitlement_id,
            } => current
                .grants
                .retain(|g| (&g.user_id, &g.entitlement_id) != (user_id, entitlement_id)),
            Change::EntitlementGone { entitlement_id } => {
                current.entitlements.retain(|e| &e.id != entitlement_id)
            }
        }
    }
    current
}

fn kinds(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| {
            serde_json::to_value(c).unwrap()["change"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn a_first_sync_links_by_email_and_grants_what_is_listed() {
    let current = Current {
        users: vec![
            user("ada", "Ada@Example.com"),
            user("bob", "bob@example.com"),
        ],
        ..Current::default()
    };
    let l = listing(
        &[("s1", "ada@example.com"), ("s2", "nobody@example.com")],
        &[
            ("s1", "group:eng:member"),
            ("s2", "group:eng:member"),
            ("s9", "group:eng:member"),
            ("s1", "group:gone:member"),
        ],
    );
    let plan = plan("app", &l, &current);
    assert_eq!(
        kinds(&plan),
        [
            "entitlement_created",
            "account_created",
            "account_created",
            "grant_added"
        ]
    );
    let Change::EntitlementCreated { entitlement } = &plan.changes[0] else {
        unreachable!()
    };
    assert_eq!(
        (
            entitlement.id.as_str(),
            entitlement.resource_type.as_str(),
            entitlement.name.as_str()
        ),
        ("app:group:eng:member", "group", "Engineering member")
    );
    let Change::AccountCreated { account } = &plan.changes[1] else {
        unreachable!()
    };
    assert_eq!(
        account.user_id.as_deref(),
        Some("ada"),
        "linked by email, any case"
    );
    let Change::AccountCreated { account } = &plan.changes[2] else {
        unreachable!()
    };
    assert_eq!(account.user_id, None);
    assert_eq!(
        plan.changes[3],
        Change::GrantAdded {
            user_id: "ada".into(),
            entitlement_id: "app:group:eng:member".into()
        }
    );
    assert_eq!(
        plan.skipped,
        Skipped {
            unknown_account: 1,
            unlinked_account: 1,
            unknown_entitlement: 1
        }
    );
    let again = plan_of(&l, applied(current, &plan));
    assert!(
        again.changes.is_empty(),
        "a second sync changes nothing: {:?}",
        again.changes
    );
}

fn plan_of(l: &Listing, current: Current) -> Plan {
    plan("app", l, &current)
}

#[test]
fn what_is_no_longer_listed_is_taken_away_and_marked() {
    let first = listing(
        &[("s1", "ada@example.com"), ("s2", "bob@example.com")],
        &[("s1", "group:eng:member"), ("s2", "group:eng:member")],
    );
    let users = vec![
        user("ada", "ada@example.com"),
        user("bob", "bob@example.com"),
    ];
    let start = Current {
        users,
        ..Current::default()
    };
    let p = plan_of(
        &first,
        Current {
            users: start.users.clone(),
            ..Current::default()
        },
    );
    let after_first = applied(start, &p);
    // bob left the app; ada left the group.
    let second = listing(&[("s1", "ada@example.com")], &[]);
    let p = plan_of(&second, after_first);
    assert_eq!(
        kinds(&p),
        ["grant_removed", "grant_removed", "account_gone"]
    );
    let Change::AccountGone { account } = &p.changes[2] else {
        unreachable!()
    };
    assert_eq!(
        (
            account.id.as_str(),
            account.status.as_str(),
            account.user_id.as_deref()
        ),
        ("s2", "deleted", Some("bob"))
    );
    assert_eq!(p.mass_removal(), None, "two removals are few");
}

#[test]
fn a_listing_back_restores_an_account_and_keeps_its_link() {
    let users = vec![user("ada", "ada@example.com")];
    let gone = Account {
        id: "s1".into(),
        app_id: "app".into(),
        user_id: Some("ada".into()),
        username: None,
        email: Some("other@example.com".into()),
        status: "deleted".into(),
        attributes: json!({}),
    };
    let current = Current {
        users,
        accounts: vec![gone],
        ..Current::default()
    };
    let p = plan_of(&listing(&[("s1", "changed@example.com")], &[]), current);
    let Change::AccountUpdated { account } = &p.changes[1] else {
        panic!("{:?}", p.changes)
    };
    assert_eq!(
        (account.status.as_str(), account.user_id.as_deref()),
        ("active", Some("ada"))
    );
}

#[test]
fn an_empty_listing_of_a_full_app_is_a_mass_removal() {
    let users: Vec<User> = (0..20)
        .map(|i| user(&format!("u{i}"), &format!("u{i}@x.io")))
        .collect();
    let ids: Vec<(String, String)> = (0..20)
        .map(|i| (format!("s{i}"), format!("u{i}@x.io")))
        .collect();
    let pairs: Vec<(&str, &str)> = ids.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let grants: Vec<(&str, &str)> = ids
        .iter()
        .map(|(a, _)| (a.as_str(), "group:eng:member"))
        .collect();
    let full = listing(&pairs, &grants);
    let start = Current {
        users: users.clone(),
        ..Current::default()
    };
    let synced = applied(
        start,
        &plan_of(
            &full,
            Current {
                users,
                ..Current::default()
            },
        ),
    );
    let p = plan_of(&listing(&pairs, &[]), synced);
    let why = p.mass_removal().expect("refused");
    assert!(why.contains("remove 20 of 20 grants"), "{why}");
}

#[test]
fn an_entitlement_no_longer_listed_goes_after_its_grants() {
    let users = vec![user("ada", "ada@example.com")];
    let l = listing(&[("s1", "ada@example.com")], &[("s1", "group:eng:member")]);
    let synced = applied(
        Current {
            users: users.clone(),
            ..Current::default()
        },
        &plan_of(
            &l,
            Current {
                users,
                ..Current::default()
            },
        ),
    );
    let mut without = listing(&[("s1", "ada@example.com")], &[]);
    without.entitlements.clear();
    let p = plan_of(&without, synced);
    assert_eq!(kinds(&p), ["grant_removed", "entitlement_gone"]);
}
