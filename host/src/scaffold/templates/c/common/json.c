// Minimal JSON: see json.h.
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

// The end of the string starting at the quote `p`, past its closing quote.
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}

// The end of the value starting at `p`.
static const char *skip_value(const char *p, const char *end) {
  if (p >= end) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < end) {
      if (*p == '"') {
        if (!(p = skip_string(p, end))) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      if (*p == '}' || *p == ']') depth--;
      p++;
      if (depth == 0) return p;
    }
    return NULL;
  }
  while (p < end && !strchr(",}] \t\r\n", *p)) p++;  // a number, true, false, null
  return p;
}

static void put_utf8(char **out, uint32_t c) {
  char *o = *out;
  if (c < 0x80) *o++ = (char)c;
  else if (c < 0x800) *o++ = (char)(0xC0 | c >> 6), *o++ = (char)(0x80 | (c & 0x3F));
  else if (c < 0x10000)
    *o++ = (char)(0xE0 | c >> 12), *o++ = (char)(0x80 | (c >> 6 & 0x3F)), *o++ = (char)(0x80 | (c & 0x3F));
  else
    *o++ = (char)(0xF0 | c >> 18), *o++ = (char)(0x80 | (c >> 12 & 0x3F)),
    *o++ = (char)(0x80 | (c >> 6 & 0x3F)), *o++ = (char)(0x80 | (c & 0x3F));
  *out = o;
}

static uint32_t hex4(const char *p) {
  char digits[5] = {0};
  memcpy(digits, p, 4);
  return (uint32_t)strtoul(digits, NULL, 16);
}

// The string value `v` (quotes included) unescaped, NUL-terminated.
static char *unescape(json_t v) {
  char *out = malloc(v.len + 1), *o = out;
  const char *p = v.ptr + 1, *end = v.ptr + v.len - 1;
  while (p < end) {
    if (*p != '\\') {
      *o++ = *p++;
      continue;
    }
    char c = p[1];
    p += 2;
    switch (c) {
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        if (end - p < 4) break;
        uint32_t code = hex4(p);
        p += 4;
        if (code >= 0xD800 && code < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          code = 0x10000 + ((code - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
          p += 6;
        }
        put_utf8(&o, code);
        break;
      }
      default: *o++ = c;  // " \ /
    }
  }
  *o = '\0';
  return out;
}

bool json_member(json_t doc, const char *key, json_t *value) {
  const char *end = doc.ptr + doc.len, *p = skip_ws(doc.ptr, end);
  if (p >= end || *p != '{') return false;
  p = skip_ws(p + 1, end);
  while (p < end && *p == '"') {
    const char *key_end = skip_string(p, end);
    if (!key_end) return false;
    char *name = unescape((json_t){p, (size_t)(key_end - p)});
    bool found = strcmp(name, key) == 0;
    free(name);
    p = skip_ws(key_end, end);
    if (p >= end || *p != ':') return false;
    p = skip_ws(p + 1, end);
    const char *value_end = skip_value(p, end);
    if (!value_end) return false;
    if (found) {
      *value = (json_t){p, (size_t)(value_end - p)};
      return true;
    }
    p = skip_ws(value_end, end);
    if (p < end && *p == ',') p = skip_ws(p + 1, end);
  }
  return false;
}

char *json_get_string(json_t doc, const char *key) {
  json_t v;
  if (!json_member(doc, key, &v) || v.len < 2 || v.ptr[0] != '"') return NULL;
  return unescape(v);
}

bool json_is_null(json_t doc, const char *key) {
  json_t v;
  return !json_member(doc, key, &v) || (v.len == 4 && memcmp(v.ptr, "null", 4) == 0);
}

static void put(json_buf_t *b, const char *text, size_t len) {
  if (b->len + len + 1 > b->cap) {
    b->cap = (b->len + len + 1) * 2;
    b->ptr = realloc(b->ptr, b->cap);
  }
  memcpy(b->ptr + b->len, text, len);
  b->len += len;
  b->ptr[b->len] = '\0';
}

void json_raw(json_buf_t *b, const char *text) { put(b, text, strlen(text)); }

void json_value(json_buf_t *b, json_t value) { put(b, value.ptr, value.len); }

void json_string(json_buf_t *b, const char *text) {
  if (!text) {
    json_raw(b, "null");
    return;
  }
  put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    char escaped[8];
    if (*p == '"' || *p == '\\') snprintf(escaped, sizeof escaped, "\\%c", *p);
    else if (*p < 0x20) snprintf(escaped, sizeof escaped, "\\u%04x", *p);
    else {
      put(b, (const char *)p, 1);
      continue;
    }
    json_raw(b, escaped);
  }
  put(b, "\"", 1);
}
