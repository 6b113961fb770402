// The app's API: where it is (`config.base_url`), its token (the secret
// `api_token`, sent as a bearer token), and its answers mapped to keystep's
// error codes. Change the paths and headers in api.c to fit your app.
#ifndef API_H
#define API_H

#include "bindings/connector_plugin.h"
#include "json.h"

typedef keystep_plugin_types_error_t error_t;

typedef struct {
  char *base_url;
  connector_plugin_string_t token;
} api_t;

// Reads the configuration and the token; false (and `err`) when either is
// missing.
bool api_open(api_t *api, error_t *err);
void api_close(api_t *api);

// Sends a request (`body`: JSON text or NULL); fills `status` and `answer`
// (the body, NUL-terminated, malloc'ed). False only when the request fails:
// `denied` (a host the grant file does not allow) or `unavailable`.
bool api_send(api_t *api, const char *method, const char *path, const char *body, const char *idempotency_key,
              uint16_t *status, char **answer, error_t *err);

// True for a 2xx; else fills `err` with keystep's code for the status.
bool api_check(const char *what, uint16_t status, const char *answer, error_t *err);

// Fills `err` (strings copied) and answers false.
bool fail(error_t *err, const char *code, const char *message, bool retryable);

// `text` percent-encoded for a path segment (free it).
char *segment(const char *text);

#endif
