// {{name}}: a keystep connector (world `connector-plugin` of
// keystep:plugin@0.1.0) for an app with a JSON API of users; mock_app.py
// plays one. Point it at yours in {{name}}.toml (`config.base_url`, the
// secret `api_token`) and change the paths and shapes in api.js.
//
// It offers two actions and creates accounts:
//
// - `get-account {account_id}`: GET /users/ID, the app's user;
// - `suspend-account {account_id, reason?}`: POST /users/ID/suspend;
// - `create-account` with fields `{login, email, name?}`: POST /users (a
//   login the app already has is linked, `alreadyExisted: true`).
//
// It does not sync, grant or revoke: it leaves those capabilities out of
// `info` and answers them with the error code `unsupported`, as keystep
// expects. Add them when your app has groups or roles to sync.
//
// The exported interface `connector` is the object `connector` below.
// Errors are thrown as keystep's error record (`failure`); any other
// exception becomes an `internal` error carrying its stack (`typed`).
// @ts-check

import { log } from 'keystep:plugin/host@0.1.0';
import { Api, check, failure, segment, typed } from './api.js';

const ACCOUNT_ID = { type: 'string', minLength: 1 };

export const connector = {
  /** @returns {import('keystep:plugin/connector@0.1.0').ConnectorInfo} */
  info() {
    return {
      name: '{{name}}', // must be the component's file name: {{name}}.wasm
      version: '0.1.0',
      description: 'Accounts in an app with a JSON API of users',
      capabilities: ['account-provisioning', 'actions'],
      actions: [
        {
          name: 'get-account',
          description: "The app's record of an account",
          arguments: schema({ account_id: ACCOUNT_ID }, ['account_id']),
        },
        {
          name: 'suspend-account',
          description: 'Suspends an account so that it can no longer sign in',
          arguments: schema({ account_id: ACCOUNT_ID, reason: { type: 'string' } }, ['account_id']),
        },
      ],
      accountSchema: schema(
        {
          login: { type: 'string', pattern: '^[a-z][a-z0-9._-]*$' },
          email: { type: 'string', minLength: 3 },
          name: { type: 'string' },
        },
        ['login', 'email'],
      ),
    };
  },

  sync() {
    throw unsupported('sync');
  },

  grant() {
    throw unsupported('grant');
  },

  revoke() {
    throw unsupported('revoke');
  },

  /** @param {import('keystep:plugin/connector@0.1.0').AccountRequest} request */
  createAccount(request) {
    return typed(() => {
      const fields = JSON.parse(request.fields); // checked against the account schema
      const api = Api.fromConfig();
      const body = { login: fields.login, email: fields.email, name: fields.name ?? null };
      const [status, answer] = api.send('POST', '/users', body, request.idempotencyKey);
      // 409: the app has this login already; link that account.
      const already = status === 409 && typeof answer?.user === 'object' && answer.user !== null;
      const user = already ? answer.user : check('POST /users', status, answer);
      log('info', `account ${user.id} for ${fields.login}`);
      return { id: String(user.id), login: fields.login, profile: JSON.stringify(user), alreadyExisted: already };
    });
  },

  invokeAction(name, argumentsJson, idempotencyKey) {
    return typed(() => {
      const args = JSON.parse(argumentsJson); // checked against the action's schema
      const api = Api.fromConfig();
      const path = `/users/${segment(args.account_id)}`;
      let user;
      if (name === 'get-account') {
        user = api.call('GET', path, undefined, idempotencyKey);
      } else if (name === 'suspend-account') {
        user = api.call('POST', `${path}/suspend`, { reason: args.reason ?? null }, idempotencyKey);
      } else {
        throw failure('invalid-argument', `{{name}} has no action "${name}"`);
      }
      return JSON.stringify(user);
    });
  },
};

/** An object schema with these properties, these required, no others. */
function schema(properties, required) {
  return JSON.stringify({ type: 'object', properties, required, additionalProperties: false });
}

function unsupported(call) {
  return failure('unsupported', `{{name}} does not ${call}`);
}
