// The app's API: see api.h.
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t text(const char *s) { return (json_t){s, strlen(s)}; }

bool fail(error_t *err, const char *code, const char *message, bool retryable) {
  connector_plugin_string_dup(&err->code, code);
  connector_plugin_string_dup(&err->message, message);
  err->retryable = retryable;
  return false;
}

bool api_open(api_t *api, error_t *err) {
  keystep_plugin_host_json_t config;
  keystep_plugin_host_config(&config);
  json_t doc = {(const char *)config.ptr, config.len};
  api->base_url = json_get_string(doc, "base_url");
  keystep_plugin_host_json_free(&config);
  if (!api->base_url || !*api->base_url) {
    free(api->base_url);
    return fail(err, "invalid-argument", "{{name}}.toml has no config.base_url", false);
  }
  size_t n = strlen(api->base_url);
  while (n > 0 && api->base_url[n - 1] == '/') api->base_url[--n] = '\0';
  connector_plugin_string_t name;
  connector_plugin_string_set(&name, "api_token");
  // Fails with `denied` unless the grant file names the secret.
  if (!keystep_plugin_host_secret(&name, &api->token, err)) {
    free(api->base_url);
    return false;
  }
  return true;
}

void api_close(api_t *api) {
  free(api->base_url);
  connector_plugin_string_free(&api->token);
}

bool api_send(api_t *api, const char *method, const char *path, const char *body, const char *idempotency_key,
              uint16_t *status, char **answer, error_t *err) {
  char *url = malloc(strlen(api->base_url) + strlen(path) + 1);
  strcpy(url, api->base_url);
  strcat(url, path);
  char *bearer = malloc(api->token.len + 8);
  snprintf(bearer, api->token.len + 8, "Bearer %.*s", (int)api->token.len, (const char *)api->token.ptr);
  const char *pairs[][2] = {
      {"Authorization", bearer},
      {"Accept", "application/json"},
      // The same on a replay after a crash: the app can skip a repeat.
      {"Idempotency-Key", idempotency_key},
      {"Content-Type", "application/json"},
  };
  connector_plugin_tuple2_string_string_t headers[4];
  size_t count = body ? 4 : 3;
  for (size_t i = 0; i < count; i++) {
    connector_plugin_string_set(&headers[i].f0, pairs[i][0]);
    connector_plugin_string_set(&headers[i].f1, pairs[i][1]);
  }
  keystep_plugin_host_http_request_t request = {0};
  connector_plugin_string_set(&request.method, method);
  connector_plugin_string_set(&request.url, url);
  request.headers = (connector_plugin_list_tuple2_string_string_t){headers, count};
  if (body) request.body = (connector_plugin_option_list_u8_t){true, {(uint8_t *)body, strlen(body)}};
  keystep_plugin_host_http_response_t response;
  bool sent = keystep_plugin_host_http_fetch(&request, &response, err);
  free(url);
  free(bearer);
  if (!sent) return false;
  *status = response.status;
  *answer = malloc(response.body.len + 1);
  memcpy(*answer, response.body.ptr, response.body.len);
  (*answer)[response.body.len] = '\0';
  keystep_plugin_host_http_response_free(&response);
  return true;
}

bool api_check(const char *what, uint16_t status, const char *answer, error_t *err) {
  if (status >= 200 && status < 300) return true;
  const char *code = "invalid-argument";
  if (status == 401 || status == 403) code = "denied";
  else if (status == 404) code = "not-found";
  else if (status == 409) code = "already-exists";
  else if (status == 429) code = "rate-limited";
  else if (status >= 500) code = "unavailable";
  char *why = json_get_string(text(answer), "error");
  char message[600];
  snprintf(message, sizeof message, "{{name}}: %s answered %u: %s", what, status, why ? why : "no error message");
  free(why);
  return fail(err, code, message, status == 429 || status >= 500);
}

char *segment(const char *text) {
  char *out = malloc(strlen(text) * 3 + 1), *o = out;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
      *o++ = (char)*p;
    else o += sprintf(o, "%%%02X", *p);
  }
  *o = '\0';
  return out;
}
