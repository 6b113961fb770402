// Minimal JSON for a keystep plugin in C: enough to read the fields of an
// object (the input, a directory user, an app's answer) and to write JSON
// text. It reads one object's top-level members and skips whatever is
// nested; it does not build a tree. For more, vendor a real library (cJSON
// is two files) and use it the same way: parse the JSON text keystep gives,
// print the JSON text you return.
#ifndef JSON_H
#define JSON_H

#include <stdbool.h>
#include <stddef.h>

// A slice of JSON text: a whole document or one value inside it.
typedef struct {
  const char *ptr;
  size_t len;
} json_t;

// The member `key` of the object `doc`; false when `doc` is not an object
// or has no such member.
bool json_member(json_t doc, const char *key, json_t *value);

// The member `key` as a new NUL-terminated string (free it), or NULL when
// it is missing or not a string.
char *json_get_string(json_t doc, const char *key);

// True when the member `key` is missing or null.
bool json_is_null(json_t doc, const char *key);

// A growing buffer of JSON text being written.
typedef struct {
  char *ptr;
  size_t len, cap;
} json_buf_t;

void json_raw(json_buf_t *b, const char *text);
// `text` as a JSON string, quoted and escaped; NULL writes null.
void json_string(json_buf_t *b, const char *text);
// `value`, a slice of JSON text, as it is.
void json_value(json_buf_t *b, json_t value);

#endif
