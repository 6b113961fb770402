// The decision's tests: `node --test` (or `npm test`), nothing to build.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide } from './decide.js';

const ada = { id: 'u-ada', status: 'active', manager_id: 'u-grace' };

test('a privileged entitlement is reviewed', () => {
  const d = decide(ada, 'github:admin', []);
  assert.equal(d.decision, 'review');
  assert.deepEqual(d.reasons, ['github:admin is privileged']);
});

test('what is held is approved and a disabled user denied', () => {
  const held = { entitlement: 'github:admin', app: 'github', slug: 'admin' };
  const d = decide(ada, 'github:admin', [held]);
  assert.deepEqual([d.decision, d.grants], ['approve', 1]);
  assert.equal(decide({ ...ada, status: 'disabled' }, 'github:wiki', []).decision, 'deny');
});
