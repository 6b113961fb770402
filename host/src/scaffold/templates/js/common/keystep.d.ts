// The types of keystep:plugin@0.1.0 (../wit) as componentize-js maps them,
// for editors and `tsc -p jsconfig.json`: names in camelCase, enums as strings,
// options as `undefined`, `list<u8>` as Uint8Array. A `result` error is
// thrown: a failing import throws an Error whose `payload` is the record,
// and a thrown value with a `payload` (or a plain record) is returned as
// the error.

declare module 'keystep:plugin/types@0.1.0' {
  /** A JSON document, as text: JSON.parse it. */
  export type Json = string;
  /** Why a call failed. */
  export interface Error {
    /** `invalid-argument`, `not-found`, `already-exists`, `denied`, `unavailable`, `rate-limited`, `unsupported`, `internal`. */
    code: string;
    /** For people; never a secret. */
    message: string;
    /** True when the same call may succeed later. */
    retryable: boolean;
  }
  export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
}

declare module 'keystep:plugin/host@0.1.0' {
  import type { Json, Level } from 'keystep:plugin/types@0.1.0';
  export interface HttpRequest {
    method: string;
    url: string;
    headers: Array<[string, string]>;
    body?: Uint8Array;
    timeoutMs?: number;
  }
  export interface HttpResponse {
    status: number;
    headers: Array<[string, string]>;
    body: Uint8Array;
  }
  export function log(level: Level, message: string): void;
  /** Only to the hosts the grant file allows; throws `denied` or `unavailable`. */
  export function httpFetch(request: HttpRequest): HttpResponse;
  /** A secret the grant file names; throws `denied` otherwise. */
  export function secret(name: string): string;
  /** The grant file's `[config]`, as a JSON object. */
  export function config(): Json;
}

declare module 'keystep:plugin/directory@0.1.0' {
  import type { Json } from 'keystep:plugin/types@0.1.0';
  /** A user (see `User`), or undefined. */
  export function getUser(id: string): Json | undefined;
  export function findUsers(filter: Json, limit: number): Json[];
  /** The user's grants (see `Grant`). */
  export function listGrants(userId: string): Json[];
}

/** What a connector exports, as the object `connector` of app.js. */
declare module 'keystep:plugin/connector@0.1.0' {
  import type { Json } from 'keystep:plugin/types@0.1.0';
  export type Capability = 'sync' | 'provision' | 'account-provisioning' | 'actions';
  export type SyncKind = 'users' | 'resources' | 'entitlements' | 'grants';
  export type CredentialOption = 'no-password' | 'random-password' | 'sso';
  export interface ActionSchema { name: string; description: string; arguments: Json }
  export interface ConnectorInfo {
    name: string;
    version: string;
    description: string;
    capabilities: Capability[];
    actions: ActionSchema[];
    accountSchema?: Json;
  }
  export interface Page { items: Json[]; nextCursor?: string }
  export interface AccessChange { user: Json; accountId?: string; entitlement: string; idempotencyKey: string }
  export interface AccountRequest { fields: Json; credential: CredentialOption; idempotencyKey: string }
  export interface Account { id: string; login: string; profile: Json; alreadyExisted: boolean }
}
