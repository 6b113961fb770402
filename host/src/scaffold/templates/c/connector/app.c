// {{name}}: a keystep connector (world `connector-plugin` of
// keystep:plugin@0.1.0) for an app with a JSON API of users; mock_app.py
// plays one. Point it at yours in {{name}}.toml (`config.base_url`, the
// secret `api_token`) and change the paths and shapes in api.c.
//
// It offers two actions and creates accounts:
//
// - `get-account {account_id}`: GET /users/ID, the app's user;
// - `suspend-account {account_id, reason?}`: POST /users/ID/suspend;
// - `create-account` with fields `{login, email, name?}`: POST /users (a
//   login the app already has is linked, `already_existed`).
//
// It does not sync, grant or revoke: it leaves those capabilities out of
// `info` and answers them with the error code `unsupported`, as keystep
// expects. Add them when your app has groups or roles to sync.
//
// JSON: json.h reads the fields this needs and writes the bodies; the app's
// answers are handed on as they are. Memory: what we return (every string
// of `info`, an account, an error) must be malloc'ed: the bindings free it
// after the call. Each call runs in a fresh instance.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

typedef connector_plugin_string_t string_t;

#define ACCOUNT_ID "\"account_id\": {\"type\": \"string\", \"minLength\": 1}"
#define OBJECT(properties, required) \
  "{\"type\": \"object\", \"properties\": {" properties "}, \"required\": [" required "], \"additionalProperties\": false}"

static json_t as_json(string_t s) { return (json_t){(const char *)s.ptr, s.len}; }

static string_t dup(const char *s) {
  string_t out;
  connector_plugin_string_dup(&out, s);
  return out;
}

void exports_keystep_plugin_connector_info(exports_keystep_plugin_connector_connector_info_t *ret) {
  ret->name = dup("{{name}}");  // must be the component's file name: {{name}}.wasm
  ret->version = dup("0.1.0");
  ret->description = dup("Accounts in an app with a JSON API of users");
  exports_keystep_plugin_connector_capability_t *capabilities = malloc(2 * sizeof *capabilities);
  capabilities[0] = EXPORTS_KEYSTEP_PLUGIN_CONNECTOR_CAPABILITY_ACCOUNT_PROVISIONING;
  capabilities[1] = EXPORTS_KEYSTEP_PLUGIN_CONNECTOR_CAPABILITY_ACTIONS;
  ret->capabilities = (exports_keystep_plugin_connector_list_capability_t){capabilities, 2};
  exports_keystep_plugin_connector_action_schema_t *actions = malloc(2 * sizeof *actions);
  actions[0] = (exports_keystep_plugin_connector_action_schema_t){
      dup("get-account"), dup("The app's record of an account"), dup(OBJECT(ACCOUNT_ID, "\"account_id\""))};
  actions[1] = (exports_keystep_plugin_connector_action_schema_t){
      dup("suspend-account"), dup("Suspends an account so that it can no longer sign in"),
      dup(OBJECT(ACCOUNT_ID ", \"reason\": {\"type\": \"string\"}", "\"account_id\""))};
  ret->actions = (exports_keystep_plugin_connector_list_action_schema_t){actions, 2};
  ret->account_schema.is_some = true;
  ret->account_schema.val = dup(OBJECT(
      "\"login\": {\"type\": \"string\", \"pattern\": \"^[a-z][a-z0-9._-]*$\"}, "
      "\"email\": {\"type\": \"string\", \"minLength\": 3}, \"name\": {\"type\": \"string\"}",
      "\"login\", \"email\""));
}

static bool unsupported(const char *call, error_t *err) {
  char message[100];
  snprintf(message, sizeof message, "{{name}} does not %s", call);
  return fail(err, "unsupported", message, false);
}

bool exports_keystep_plugin_connector_sync(exports_keystep_plugin_connector_sync_kind_t kind, string_t *maybe_cursor,
                                           exports_keystep_plugin_connector_page_t *ret, error_t *err) {
  (void)kind, (void)ret;
  if (maybe_cursor) connector_plugin_string_free(maybe_cursor);
  return unsupported("sync", err);
}

bool exports_keystep_plugin_connector_grant(exports_keystep_plugin_connector_access_change_t *change, string_t *ret,
                                            error_t *err) {
  (void)ret;
  exports_keystep_plugin_connector_access_change_free(change);
  return unsupported("grant", err);
}

bool exports_keystep_plugin_connector_revoke(exports_keystep_plugin_connector_access_change_t *change, string_t *ret,
                                             error_t *err) {
  (void)ret;
  exports_keystep_plugin_connector_access_change_free(change);
  return unsupported("revoke", err);
}

// POST /users; a 409 that names the existing user links it.
static bool create(api_t *api, json_t fields, const char *key, exports_keystep_plugin_connector_account_t *ret,
                   error_t *err) {
  char *login = json_get_string(fields, "login"), *email = json_get_string(fields, "email");
  char *name = json_get_string(fields, "name");
  json_buf_t body = {0};
  json_raw(&body, "{\"login\": ");
  json_string(&body, login);
  json_raw(&body, ", \"email\": ");
  json_string(&body, email);
  json_raw(&body, ", \"name\": ");
  json_string(&body, name);
  json_raw(&body, "}");
  uint16_t status;
  char *answer = NULL;
  bool ok = api_send(api, "POST", "/users", body.ptr, key, &status, &answer, err);
  json_t user = {0};
  bool already = ok && status == 409 && json_member((json_t){answer, strlen(answer)}, "user", &user);
  if (ok && !already && (ok = api_check("POST /users", status, answer, err))) user = (json_t){answer, strlen(answer)};
  json_t id;
  if (ok && !json_member(user, "id", &id)) ok = fail(err, "internal", "the app answered no id", false);
  if (ok) {
    // A string id without its quotes, a number as it is.
    size_t skip = id.ptr[0] == '"';
    connector_plugin_string_dup_n(&ret->id, id.ptr + skip, id.len - 2 * skip);
    ret->login = dup(login);
    connector_plugin_string_dup_n(&ret->profile, user.ptr, user.len);
    ret->already_existed = already;
  }
  free(login), free(email), free(name), free(body.ptr), free(answer);
  return ok;
}

bool exports_keystep_plugin_connector_create_account(exports_keystep_plugin_connector_account_request_t *request,
                                                     exports_keystep_plugin_connector_account_t *ret, error_t *err) {
  api_t api;
  bool ok = api_open(&api, err);
  if (ok) {
    char *key = strndup((const char *)request->idempotency_key.ptr, request->idempotency_key.len);
    // The fields were checked against the account schema.
    ok = create(&api, as_json(request->fields), key, ret, err);
    free(key);
    api_close(&api);
  }
  exports_keystep_plugin_connector_account_request_free(request);
  return ok;
}

// Runs the action `name` (its arguments checked against its schema).
static bool act(api_t *api, const char *name, json_t args, const char *key, string_t *ret, error_t *err) {
  char *account_id = json_get_string(args, "account_id"), *reason = json_get_string(args, "reason");
  char *id = segment(account_id ? account_id : ""), path[600], *answer = NULL;
  const char *method = "GET", *body = NULL;
  json_buf_t suspend = {0};
  snprintf(path, sizeof path, "/users/%s", id);
  bool ok = true;
  if (strcmp(name, "suspend-account") == 0) {
    method = "POST";
    strncat(path, "/suspend", sizeof path - strlen(path) - 1);
    json_raw(&suspend, "{\"reason\": ");
    json_string(&suspend, reason);
    json_raw(&suspend, "}");
    body = suspend.ptr;
  } else if (strcmp(name, "get-account") != 0) {
    char message[300];
    snprintf(message, sizeof message, "{{name}} has no action \"%s\"", name);
    ok = fail(err, "invalid-argument", message, false);
  }
  uint16_t status;
  char what[700];
  snprintf(what, sizeof what, "%s %s", method, path);
  ok = ok && api_send(api, method, path, body, key, &status, &answer, err) && api_check(what, status, answer, err);
  if (ok) connector_plugin_string_dup(ret, answer);  // the app's user, as it answered
  free(account_id), free(reason), free(id), free(suspend.ptr), free(answer);
  return ok;
}

bool exports_keystep_plugin_connector_invoke_action(string_t *name, string_t *arguments, string_t *idempotency_key,
                                                    string_t *ret, error_t *err) {
  char *action = strndup((const char *)name->ptr, name->len);
  char *key = strndup((const char *)idempotency_key->ptr, idempotency_key->len);
  api_t api;
  bool ok = api_open(&api, err);
  if (ok) {
    ok = act(&api, action, as_json(*arguments), key, ret, err);
    api_close(&api);
  }
  free(action), free(key);
  connector_plugin_string_free(name);
  connector_plugin_string_free(arguments);
  connector_plugin_string_free(idempotency_key);
  return ok;
}
