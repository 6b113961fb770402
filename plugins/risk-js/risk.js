// The risk scorer as a keystep function plugin in JavaScript (componentize-js).
//
// Input is {"user_id": "u-ada"} (the user and their grants are read from
// keystep's directory) or {"user": {...}, "grants": [...]} given inline.
// Scores exactly like ../risk-rust and ../risk-python.
//
// Build: npm ci && npm run build
//
// The world-level export `call` is this module's exported function `call`.
// A `result` error is returned by throwing: a thrown value with a `payload`
// property becomes the error record `payload`, as does a thrown plain object.
// Imports that fail throw an error whose `payload` is the host's record, so
// rethrowing it passes the record on unchanged.

import { getUser, listGrants } from 'keystep:plugin/directory@0.1.0';
import { log } from 'keystep:plugin/host@0.1.0';

const PRIVILEGED = ['admin', 'owner', 'root'];
const CHANGES = ['write', 'maintain', 'deploy', 'billing'];
const EXPECTED = 'expected {"user_id": ID} or {"user": USER, "grants": [GRANT, ...]}';

export function call(input) {
  let args;
  try {
    args = JSON.parse(input);
  } catch (e) {
    throw invalid(`input is not JSON (${e.message})`);
  }
  if (!isObject(args)) throw invalid('input is not an object');
  let user;
  let grants;
  if (has(args, 'user_id')) {
    const userId = args.user_id;
    if (typeof userId !== 'string') throw invalid('user_id is not a string');
    const found = getUser(userId);
    if (found === undefined || found === null) {
      throw failure('not-found', `no user ${userId}`);
    }
    user = parse(found);
    grants = listGrants(userId).map(parse);
  } else if (has(args, 'user')) {
    user = args.user;
    grants = args.grants;
    if (grants === undefined || grants === null) grants = [];
    else if (!Array.isArray(grants)) throw invalid('grants is not a list');
  } else {
    throw invalid('neither user_id nor user given');
  }
  if (!isObject(user)) throw invalid('user is not an object');
  const result = score(user, grants);
  log('info', `scored ${text(result, 'user')}: ${result.score}`);
  return JSON.stringify(result);
}

// The score, identical in the Rust and Python versions.
function score(user, grants) {
  let total = 0;
  const reasons = [];
  const scored = [];
  for (const grant of grants) {
    const entitlement = text(grant, 'entitlement');
    const slug = text(grant, 'slug');
    let points;
    if (PRIVILEGED.some((w) => slug.includes(w))) {
      points = 30;
      reasons.push(`${entitlement} is privileged`);
    } else if (CHANGES.some((w) => slug.includes(w))) {
      points = 10;
      reasons.push(`${entitlement} can change things`);
    } else {
      points = 2;
    }
    total += points;
    scored.push({ entitlement, points });
  }
  const status = text(user, 'status');
  if (status !== 'active' && grants.length > 0) {
    total += 25;
    reasons.push(`${status} user still holds ${grants.length} grants`);
  }
  if (!has(user, 'manager_id') || user.manager_id === null) {
    total += 5;
    reasons.push('no manager');
  }
  total = Math.min(total, 100);
  const level = total >= 60 ? 'high' : total >= 25 ? 'medium' : 'low';
  return {
    user: has(user, 'id') ? user.id : null,
    score: total,
    level,
    grants: grants.length,
    reasons,
    scored,
  };
}

function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function has(obj, key) {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

// A string field, or "" when it is missing or not a string.
function text(obj, key) {
  const value = isObject(obj) && has(obj, key) ? obj[key] : undefined;
  return typeof value === 'string' ? value : '';
}

function parse(doc) {
  try {
    return JSON.parse(doc);
  } catch (e) {
    throw failure('internal', `the directory returned bad JSON: ${e.message}`);
  }
}

function failure(code, message) {
  const e = new Error(message);
  e.payload = { code, message, retryable: false };
  return e;
}

function invalid(why) {
  return failure('invalid-argument', `${why}: ${EXPECTED}`);
}

// Warm the scorer at build time: componentize-js snapshots the engine after
// this module has run, so every fresh instance starts with the scoring code
// already compiled instead of compiling it on its first call.
{
  const sample = JSON.parse(
    '{"user": {"id": "u", "status": "disabled", "manager_id": null},' +
      ' "grants": [{"entitlement": "a:admin", "slug": "admin"},' +
      ' {"entitlement": "a:write", "slug": "write"}, {"entitlement": "a:x", "slug": "x"}]}',
  );
  for (let i = 0; i < 10; i++) {
    JSON.stringify(score(sample.user, sample.grants));
  }
}
