// The decision, and the shapes it reads: plain JavaScript, no host calls,
// so `node --test` (decide.test.js) runs it without building anything.
// @ts-check

/**
 * A user, as the directory's getUser answers it (JSON.parse it).
 * @typedef {object} User
 * @property {string} id
 * @property {string} status `active`, `disabled`, `inactive` or `deleted`
 * @property {string | null} [email]
 * @property {string} [display_name]
 * @property {string | null} [username]
 * @property {string | null} [manager_id]
 * @property {string | null} [department]
 * @property {string | null} [title]
 * @property {Record<string, unknown>} [attributes]
 */

/**
 * A grant the user holds, as the directory's listGrants answers it.
 * @typedef {object} Grant
 * @property {string} entitlement `APP:SLUG`
 * @property {string} app
 * @property {string} slug
 * @property {string} [name]
 * @property {string | null} [resource_type]
 * @property {string | null} [resource]
 * @property {string} [source] who added it: `import`, `sync`, a run
 * @property {string} [granted_at]
 */

/**
 * The function's output.
 * @typedef {object} Decision
 * @property {string} user
 * @property {string} entitlement
 * @property {'approve' | 'review' | 'deny'} decision
 * @property {string[]} reasons
 * @property {number} grants how many grants the user holds
 */

/** Slugs containing one of these words are privileged. */
const PRIVILEGED = ['admin', 'owner', 'root'];

/**
 * Deny a user who is not active; approve what they already hold; review a
 * privileged entitlement or a user without a manager; approve the rest.
 * @param {User} user
 * @param {string} entitlement `APP:SLUG`
 * @param {Grant[]} grants
 * @returns {Decision}
 */
export function decide(user, entitlement, grants) {
  const slug = entitlement.slice(entitlement.indexOf(':') + 1);
  /** @type {Decision['decision']} */
  let decision;
  let reasons = [];
  if (user.status !== 'active') {
    decision = 'deny';
    reasons = [`${user.id} is ${user.status}`];
  } else if (grants.some((g) => g.entitlement === entitlement)) {
    decision = 'approve';
    reasons = [`${user.id} already holds ${entitlement}`];
  } else {
    if (PRIVILEGED.some((word) => slug.includes(word))) reasons.push(`${entitlement} is privileged`);
    if (user.manager_id === undefined || user.manager_id === null) {
      reasons.push(`${user.id} has no manager to approve`);
    }
    decision = reasons.length > 0 ? 'review' : 'approve';
    if (reasons.length === 0) reasons = [`${entitlement} is not privileged`];
  }
  return { user: user.id, entitlement, decision, reasons, grants: grants.length };
}
