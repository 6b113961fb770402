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
// The directory answers JSON text; json.h reads the few fields this needs
// (`id`, `status`, `manager_id` of a user, `entitlement` of a grant) and
// passes the rest by. The bindings in bindings/ are generated (see build.sh).
//
// Memory: what the host hands in is ours to free; what we return (the
// output, an error's strings) must be malloc'ed: the bindings free it after
// the call. Each call runs in a fresh instance, so a leak lasts one call.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/function.h"
#include "json.h"

#define EXPECTED "expected {\"user_id\": ID, \"entitlement\": \"APP:SLUG\"}"

// Slugs containing one of these words are privileged.
static const char *PRIVILEGED[] = {"admin", "owner", "root"};

static json_t as_json(function_string_t s) { return (json_t){(const char *)s.ptr, s.len}; }

// Fills `err` (strings copied) and answers false, for `return fail(...)`.
static bool fail(function_error_t *err, const char *code, const char *message) {
  function_string_dup(&err->code, code);
  function_string_dup(&err->message, message);
  err->retryable = false;
  return false;
}

static bool is_privileged(const char *entitlement) {
  const char *slug = strchr(entitlement, ':') + 1;
  for (size_t i = 0; i < sizeof PRIVILEGED / sizeof *PRIVILEGED; i++)
    if (strstr(slug, PRIVILEGED[i])) return true;
  return false;
}

// True when one of `grants` is `entitlement`.
static bool holds(keystep_plugin_directory_list_json_t *grants, const char *entitlement) {
  for (size_t i = 0; i < grants->len; i++) {
    char *held = json_get_string(as_json(grants->ptr[i]), "entitlement");
    bool same = held && strcmp(held, entitlement) == 0;
    free(held);
    if (same) return true;
  }
  return false;
}

// The decision as JSON text: deny a user who is not active; approve what
// they already hold; review a privileged entitlement or a user without a
// manager; approve the rest.
static char *decide(json_t user, const char *entitlement, keystep_plugin_directory_list_json_t *grants,
                    const char **chosen) {
  char *id = json_get_string(user, "id"), *status = json_get_string(user, "status");
  char reason[512];
  const char *decision = "approve";
  json_buf_t reasons = {0};
  json_raw(&reasons, "[");
  if (!status || strcmp(status, "active") != 0) {
    decision = "deny";
    snprintf(reason, sizeof reason, "%s is %s", id, status ? status : "not active");
    json_string(&reasons, reason);
  } else if (holds(grants, entitlement)) {
    snprintf(reason, sizeof reason, "%s already holds %s", id, entitlement);
    json_string(&reasons, reason);
  } else {
    if (is_privileged(entitlement)) {
      decision = "review";
      snprintf(reason, sizeof reason, "%s is privileged", entitlement);
      json_string(&reasons, reason);
    }
    if (json_is_null(user, "manager_id")) {
      if (strcmp(decision, "review") == 0) json_raw(&reasons, ", ");
      decision = "review";
      snprintf(reason, sizeof reason, "%s has no manager to approve", id);
      json_string(&reasons, reason);
    }
    if (strcmp(decision, "approve") == 0) {
      snprintf(reason, sizeof reason, "%s is not privileged", entitlement);
      json_string(&reasons, reason);
    }
  }
  json_raw(&reasons, "]");
  *chosen = decision;
  json_buf_t out = {0};
  char grants_count[32];
  snprintf(grants_count, sizeof grants_count, "%zu", grants->len);
  json_raw(&out, "{\"user\": ");
  json_string(&out, id);
  json_raw(&out, ", \"entitlement\": ");
  json_string(&out, entitlement);
  json_raw(&out, ", \"decision\": ");
  json_string(&out, decision);
  json_raw(&out, ", \"reasons\": ");
  json_raw(&out, reasons.ptr);
  json_raw(&out, ", \"grants\": ");
  json_raw(&out, grants_count);
  json_raw(&out, "}");
  free(reasons.ptr);
  free(id);
  free(status);
  return out.ptr;
}

// Reads the user and their grants, decides, logs: the world's export `call`.
static bool run(const char *user_id, const char *entitlement, function_json_t *ret, function_error_t *err) {
  function_string_t id;
  function_string_set(&id, user_id);
  keystep_plugin_directory_option_json_t found;
  // A host error (the directory unavailable) is handed on as it is.
  if (!keystep_plugin_directory_get_user(&id, &found, err)) return false;
  if (!found.is_some) {
    char message[300];
    snprintf(message, sizeof message, "no user %s", user_id);
    return fail(err, "not-found", message);
  }
  keystep_plugin_directory_list_json_t grants;
  if (!keystep_plugin_directory_list_grants(&id, &grants, err)) {
    keystep_plugin_directory_option_json_free(&found);
    return false;
  }
  const char *chosen;
  char *decision = decide(as_json(found.val), entitlement, &grants, &chosen);
  function_string_set(ret, decision);  // freed by the bindings after the call

  char line[600];
  snprintf(line, sizeof line, "%s: %s for %s", entitlement, chosen, user_id);
  function_string_t message;
  function_string_set(&message, line);
  keystep_plugin_host_log(KEYSTEP_PLUGIN_TYPES_LEVEL_INFO, &message);
  keystep_plugin_directory_option_json_free(&found);
  keystep_plugin_directory_list_json_free(&grants);
  return true;
}

bool exports_function_call(function_json_t *input, function_json_t *ret, function_error_t *err) {
  json_t doc = as_json(*input);
  char *user_id = json_get_string(doc, "user_id"), *entitlement = json_get_string(doc, "entitlement");
  bool ok;
  if (!user_id || !entitlement) ok = fail(err, "invalid-argument", "user_id and entitlement must be strings: " EXPECTED);
  else if (!strchr(entitlement, ':')) ok = fail(err, "invalid-argument", "entitlement is not APP:SLUG: " EXPECTED);
  else ok = run(user_id, entitlement, ret, err);
  free(user_id);
  free(entitlement);
  function_json_free(input);
  return ok;
}
