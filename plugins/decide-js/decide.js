// An access decision as a keystep function plugin in JavaScript
// (componentize-js), the serve benchmark's small workflow. Decides exactly
// like ../decide-rust: given {"user": {...}, "entitlements": ["app:slug", ...]},
// counts the entitlements, finds the `*:admin` ones, and decides `approve`
// (no admin, at most 10 entitlements) or `review`, with a message.
//
// Built by ../build.sh with risk-js's componentize-js.

const MOST_APPROVED = 10;
const EXPECTED = 'expected {"user": USER, "entitlements": ["app:slug", ...]}';

export function call(input) {
  let args;
  try {
    args = JSON.parse(input);
  } catch (e) {
    throw invalid(`input is not JSON (${e.message})`);
  }
  return JSON.stringify(decide(args));
}

function decide(args) {
  const user = args === null || typeof args !== 'object' ? undefined : args.user;
  if (user === null || typeof user !== 'object' || Array.isArray(user)) throw invalid('no user object');
  if (!Array.isArray(args.entitlements)) throw invalid('no entitlements list');
  const names = args.entitlements.filter((e) => typeof e === 'string');
  const admin = names.filter((e) => e.endsWith(':admin'));
  const who = [user.display_name, user.id].find((v) => typeof v === 'string') ?? 'someone';
  let decision;
  let message;
  if (admin.length > 0) {
    decision = 'review';
    message = `${who} asks for ${admin.length} admin entitlement(s): ${admin.join(', ')}`;
  } else if (names.length > MOST_APPROVED) {
    decision = 'review';
    message = `${who} asks for ${names.length} entitlements, over ${MOST_APPROVED}`;
  } else {
    decision = 'approve';
    message = `${who} asks for ${names.length} entitlement(s), none admin`;
  }
  return { decision, count: names.length, admin, message };
}

function invalid(why) {
  const e = new Error(`${why}: ${EXPECTED}`);
  e.payload = { code: 'invalid-argument', message: e.message, retryable: false };
  return e;
}

// Warm the decision at build time: the snapshot starts with it compiled.
for (let i = 0; i < 10; i++) {
  JSON.stringify(decide({ user: { id: 'u' }, entitlements: ['a:admin', 'a:read'] }));
}
