// {{name}}: a keystep function (world `function` of keystep:plugin@0.1.0).
//
// It decides whether a request for an entitlement can be approved at once,
// needs a review, or must be denied, from the user and the grants keystep's
// directory holds:
//
//   in:  {"user_id": "u-ada", "entitlement": "github:admin"}
//   out: {"user": "u-ada", "entitlement": "github:admin", "decision": "review",
//         "reasons": ["github:admin is privileged"], "grants": 1}
//
// This module is the glue to the host (the input, the directory, the log);
// decide.js is the decision, plain JavaScript that `node --test` tests.
// keystep.d.ts types the imports.
//
// Errors are keystep's typed error record, thrown: `failure(code, message)`.
// Any other exception becomes an `internal` error carrying its stack, so a
// bug shows where it is in the step's error.
// @ts-check

import { getUser, listGrants } from 'keystep:plugin/directory@0.1.0';
import { log } from 'keystep:plugin/host@0.1.0';
import { decide } from './decide.js';

const EXPECTED = 'expected {"user_id": ID, "entitlement": "APP:SLUG"}';

/** The world's export `call`: JSON in, JSON out. */
export function call(input) {
  try {
    return run(input);
  } catch (e) {
    throw typed(e);
  }
}

/** @param {string} input */
function run(input) {
  let args;
  try {
    args = JSON.parse(input);
  } catch (e) {
    throw invalid(`input is not JSON (${e.message})`);
  }
  const userId = args?.user_id;
  const entitlement = args?.entitlement;
  if (typeof userId !== 'string' || typeof entitlement !== 'string') {
    throw invalid('user_id and entitlement must be strings');
  }
  if (!entitlement.includes(':')) throw invalid(`entitlement "${entitlement}" is not APP:SLUG`);
  // A failing import throws an error whose payload is the host's record.
  const found = getUser(userId);
  if (found === undefined || found === null) throw failure('not-found', `no user ${userId}`);
  /** @type {import('./decide.js').User} */
  const user = JSON.parse(found);
  /** @type {import('./decide.js').Grant[]} */
  const grants = listGrants(userId).map((g) => JSON.parse(g));
  const decision = decide(user, entitlement, grants);
  log('info', `${entitlement}: ${decision.decision} for ${user.id}`);
  return JSON.stringify(decision);
}

/** An Error carrying keystep's error record as its `payload`. */
function failure(code, message) {
  const e = new Error(message);
  // @ts-ignore: the payload is what componentize-js sends as the error
  e.payload = { code, message, retryable: false };
  return e;
}

function invalid(why) {
  return failure('invalid-argument', `${why}: ${EXPECTED}`);
}

/** A thrown value as keystep's error: a record is passed on; anything else
 * (a bug) becomes `internal`, with its stack. */
function typed(e) {
  if (e?.payload || typeof e?.code === 'string') return e;
  const stack = e instanceof Error ? `${e}\n${e.stack}` : String(e);
  return failure('internal', stack);
}
