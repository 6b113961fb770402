//! Who reviews what in a campaign: the template's `reviewer` policy
//! (`manager`, `app_owner`, `user:<id>`), else its `fallback_reviewer`, and
//! nobody ever reviews their own access.

use keystep_tests::Keystep;
use serde_json::Value as Json;

/// Sam (managed by Boss) holds the wiki (owned by Owner) and the CRM, which
/// Sam owns; Orphan has no manager; Auditor holds the wiki too.
const DIRECTORY: &str = r#"
users:
  - { id: u-boss, display_name: Boss }
  - { id: u-owner, display_name: Owner }
  - { id: u-auditor, display_name: Auditor }
  - { id: u-fallback, display_name: Fallback }
  - { id: u-sam, display_name: Sam, manager: u-boss }
  - { id: u-orphan, display_name: Orphan }
apps:
  - id: wiki
    name: Wiki
    owner: u-owner
    entitlements: [{ slug: editor, name: Editors }]
  - id: crm
    name: CRM
    owner: u-sam
    entitlements: [{ slug: admin, name: Admins }]
grants:
  - { user: u-sam, entitlement: wiki:editor }
  - { user: u-sam, entitlement: crm:admin }
  - { user: u-orphan, entitlement: wiki:editor }
  - { user: u-auditor, entitlement: wiki:editor }
review_templates:
  - { id: by-manager, name: By manager, reviewer: manager, fallback_reviewer: u-fallback }
  - { id: by-owner, name: By owner, reviewer: app_owner, fallback_reviewer: u-fallback }
  - { id: by-auditor, name: By auditor, reviewer: "user:u-auditor", fallback_reviewer: u-fallback }
  - { id: no-fallback, name: No fallback, reviewer: manager }
  - { id: self-fallback, name: Self fallback, reviewer: "user:u-auditor", fallback_reviewer: u-auditor }
"#;

const REVIEW: &str = r#"
name: review
trigger: manual
steps:
  - id: review
    create_campaign: { template: "{{ ctx.trigger.template }}", user: subject }
"#;

fn setup() -> Keystep {
    let k = Keystep::new();
    k.write("directory.yaml", DIRECTORY);
    k.ok(&["directory", "import", "directory.yaml"]);
    k.write("automations/review.yaml", REVIEW);
    k
}

/// Runs a campaign of `template` over `user`; the (entitlement, reviewer)
/// of each review task it opened, in entitlement order.
fn reviewers(k: &Keystep, template: &str, user: &str) -> Vec<(String, String)> {
    let input = format!(r#"{{"user_id": "{user}", "template": "{template}"}}"#);
    let (code, history) = k.run_json("review", &input);
    assert_eq!(code, 0, "{history}");
    let campaign = history["run"]["outputs"]["review"]["campaign_id"].clone();
    let tasks = k.json(&["tasks", "list", "--kind", "review", "--subject", user]);
    let mut found: Vec<(String, String)> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["campaign_id"] == campaign)
        .map(|t| {
            let text = |key: &str| t[key].as_str().unwrap().to_string();
            (text("entitlement_id"), text("assignee_id"))
        })
        .collect();
    found.sort();
    found
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(e, r)| (e.to_string(), r.to_string()))
        .collect()
}

#[test]
fn manager_policy_and_its_fallback_for_a_user_without_a_manager() {
    let k = setup();
    assert_eq!(
        reviewers(&k, "by-manager", "u-sam"),
        pairs(&[("crm:admin", "u-boss"), ("wiki:editor", "u-boss")])
    );
    assert_eq!(
        reviewers(&k, "by-manager", "u-orphan"),
        pairs(&[("wiki:editor", "u-fallback")])
    );
}

#[test]
fn app_owner_policy_reviews_by_app_and_an_owner_never_reviews_their_own_grant() {
    let k = setup();
    // Sam owns the CRM: his CRM grant goes to the fallback, not to him.
    assert_eq!(
        reviewers(&k, "by-owner", "u-sam"),
        pairs(&[("crm:admin", "u-fallback"), ("wiki:editor", "u-owner")])
    );
}

#[test]
fn user_policy_names_the_reviewer_who_does_not_review_themselves() {
    let k = setup();
    assert_eq!(
        reviewers(&k, "by-auditor", "u-sam"),
        pairs(&[("crm:admin", "u-auditor"), ("wiki:editor", "u-auditor")])
    );
    assert_eq!(
        reviewers(&k, "by-auditor", "u-auditor"),
        pairs(&[("wiki:editor", "u-fallback")])
    );
}

/// Runs a campaign that must fail; its step error. Nothing is left behind.
fn fails(k: &Keystep, template: &str, user: &str) -> String {
    let input = format!(r#"{{"user_id": "{user}", "template": "{template}"}}"#);
    let (code, history) = k.run_json("review", &input);
    assert_eq!(code, 1, "{history}");
    assert_eq!(k.count("SELECT count(*) FROM campaigns"), 0);
    assert_eq!(k.count("SELECT count(*) FROM tasks"), 0);
    history["steps"][0]["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no error: {history}"))
}

#[test]
fn without_any_reviewer_the_step_fails_and_opens_nothing() {
    let k = setup();
    assert_eq!(
        fails(&k, "no-fallback", "u-orphan"),
        "no reviewer for u-orphan's wiki:editor: template `no-fallback` assigns `manager`, \
         which finds nobody, and has no fallback_reviewer"
    );
    // A fallback who is the user under review is no reviewer either.
    let error = fails(&k, "self-fallback", "u-auditor");
    assert!(
        error.starts_with("no reviewer for u-auditor's wiki:editor"),
        "{error}"
    );
    let none: Vec<Json> = Vec::new();
    assert_eq!(
        k.json(&["tasks", "list", "--assignee", "u-auditor"])
            .as_array()
            .unwrap()
            .clone(),
        none
    );
}
