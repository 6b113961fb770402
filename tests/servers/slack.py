#!/usr/bin/env python3
"""Slack: a stand-in for the Slack Web API, for the Slack step's tests.

Python 3.11 standard library only. It speaks the shapes of
https://api.slack.com/methods: every method is `POST /api/<method>` with
`Authorization: Bearer <token>` and a JSON body (`application/json;
charset=utf-8`) or a form-encoded one (query-string arguments count too, and a
form/query `token` argument is accepted like Slack does). Every answer is
HTTP 200 JSON with `"ok": true|false` and, when false, `"error": "..."`;
the only exception is rate limiting (HTTP 429, `Retry-After`).

    python3 tests/servers/slack.py --port 0 --token xoxb-test
    -> prints `listening 127.0.0.1:<port>` once started

Seeded workspace:
    channels  #general (C0GENERAL, bot is a member), #it-alerts (C0ITALERTS,
              member), #random (C0RANDOM, bot NOT a member)
    users     ada@example.com U0ADA, ken@example.com U0KEN,
              radia@example.com U0RADIA; the bot itself is U0BOT / B0BOT

Methods (a wrong or missing token -> {"ok": false, "error": "invalid_auth"}):
    auth.test
    conversations.list   types, limit, cursor -> {channels: [{id, name,
                         is_member, ...}], response_metadata: {next_cursor}};
                         at most 2 a page; next_cursor "" on the last page
    users.lookupByEmail  email -> {user: {id, name, profile: {email}}} |
                         users_not_found
    conversations.open   users=U1[,U2] -> {channel: {id: "D" + user id}}
    chat.postMessage     channel (id, name or #name; a user id posts to the
                         DM), text, blocks (JSON array, or a JSON string when
                         form-encoded) -> {channel: <id>, ts:
                         "1700000000.000001" and up, message: {text, ...}};
                         channel_not_found | not_in_channel | no_text
    anything else        unknown_method

Test-only (no token):
    GET  /_state         {messages: [{channel, text, blocks, ts}],
                          calls: [{method, params (no token), authorized,
                          status (HTTP), error (null when ok)}]}
    POST /_ratelimit?method=chat.postMessage&n=1&retry_after=1
                         the next n calls of that method answer HTTP 429 with
                         `Retry-After: <retry_after>` and
                         {"ok": false, "error": "ratelimited"}
    POST /_reset         forgets messages, calls, pending rate limits, opened
                         DMs, and restarts the ts counter
"""

import argparse
import base64
import json
import sys
import threading
from urllib.parse import parse_qs, urlsplit

import httpserve

PAGE = 2
TEAM = {"team": "Keystep Tests", "team_id": "T0KEYSTEP", "url": "https://keystep-tests.slack.com/"}
BOT = {"user": "keystep-bot", "user_id": "U0BOT", "bot_id": "B0BOT"}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.channels = [
            {"id": "C0GENERAL", "name": "general", "is_member": True},
            {"id": "C0ITALERTS", "name": "it-alerts", "is_member": True},
            {"id": "C0RANDOM", "name": "random", "is_member": False},
        ]
        self.users = {
            "U0ADA": {"id": "U0ADA", "name": "ada", "real_name": "Ada Lovelace", "email": "ada@example.com"},
            "U0KEN": {"id": "U0KEN", "name": "ken", "real_name": "Ken Thompson", "email": "ken@example.com"},
            "U0RADIA": {
                "id": "U0RADIA",
                "name": "radia",
                "real_name": "Radia Perlman",
                "email": "radia@example.com",
            },
        }
        self.reset()

    def reset(self):
        self.messages = []
        self.calls = []
        # The raw Authorization header of each call, kept apart so that it
        # never leaves the server.
        self.authorizations = []
        self.ratelimits = {}
        self.ims = {}
        self.ts = 0


class Handler(httpserve.Handler):
    server_version = "SlackStandIn/0.1"
    json_type = "application/json; charset=utf-8"

    def route(self, method):
        url = urlsplit(self.path)
        # Read the body first so that the connection stays usable whatever
        # the answer.
        raw = self.raw_body()
        if url.path.startswith("/api/"):
            return self.api(method, url.path[len("/api/") :], url.query, raw)
        return self.test_only(method, url.path, parse_qs(url.query))

    def arguments(self, query, raw):
        """The call's arguments: query string, then the body (JSON or form).
        None when the body cannot be read."""
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if raw:
            if kind == "application/json":
                try:
                    doc = json.loads(raw)
                except ValueError:
                    return None
                if not isinstance(doc, dict):
                    return None
                params.update(doc)
            else:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    return None
                form = parse_qs(text, keep_blank_values=True)
                params.update({k: v[-1] for k, v in form.items()})
        return params

    def api(self, http_method, name, query, raw):
        state = self.server.state
        params = self.arguments(query, raw)
        header = self.headers.get("Authorization")
        token = None
        if header and header.startswith("Bearer "):
            token = header[len("Bearer ") :]
        elif params and isinstance(params.get("token"), str):
            token = params["token"]
        authorized = token == self.server.token
        shown = {k: v for k, v in (params or {}).items() if k != "token"}
        call = {"method": name, "params": shown, "authorized": authorized, "status": 200, "error": None}
        with state.lock:
            state.calls.append(call)
            state.authorizations.append(header)
            limited = state.ratelimits.get(name)
            if limited and limited[0] > 0:
                limited[0] -= 1
                call["status"] = 429
                call["error"] = "ratelimited"
                return self.send(
                    429,
                    {"ok": False, "error": "ratelimited"},
                    [("Retry-After", str(limited[1]))],
                )
        if not authorized:
            answer = {"ok": False, "error": "invalid_auth"}
        elif params is None:
            answer = {"ok": False, "error": "invalid_json"}
        else:
            with state.lock:
                answer = method(state, name, params)
        with state.lock:
            call["error"] = answer.get("error")
        kind = self.headers.get("Content-Type") or ""
        if answer.get("ok") and kind.startswith("application/json") and "charset" not in kind:
            # What Slack says when a JSON body comes without a charset.
            answer["warning"] = "missing_charset"
            answer["response_metadata"] = dict(answer.get("response_metadata") or {})
            answer["response_metadata"]["warnings"] = ["missing_charset"]
        return self.send(200, answer)

    def test_only(self, method, path, query):
        state = self.server.state
        if method == "GET" and path == "/_state":
            with state.lock:
                return self.send(
                    200,
                    {
                        "messages": [dict(m) for m in state.messages],
                        "calls": [dict(c) for c in state.calls],
                    },
                )
        if method == "POST" and path == "/_ratelimit":
            name = query.get("method", ["chat.postMessage"])[0]
            try:
                n = int(query.get("n", ["1"])[0])
                retry_after = int(query.get("retry_after", ["1"])[0])
            except ValueError:
                return self.send(400, {"error": "n and retry_after are whole numbers"})
            with state.lock:
                state.ratelimits[name] = [n, retry_after]
            return self.send(200, {"method": name, "n": n, "retry_after": retry_after})
        if method == "POST" and path == "/_reset":
            with state.lock:
                state.reset()
            return self.send(200, {"reset": True})
        return self.send(404, {"error": "no such endpoint"})


def channel_view(channel):
    return {
        "id": channel["id"],
        "name": channel["name"],
        "is_channel": True,
        "is_private": False,
        "is_archived": False,
        "is_member": channel["is_member"],
    }


def user_view(user):
    return {
        "id": user["id"],
        "team_id": TEAM["team_id"],
        "name": user["name"],
        "real_name": user["real_name"],
        "deleted": False,
        "is_bot": False,
        "profile": {"email": user["email"], "real_name": user["real_name"]},
    }


def text_arg(params, key):
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value)


def method(state, name, params):
    """Answers an authorised call: the JSON body."""
    match name:
        case "auth.test":
            return {"ok": True, **TEAM, **BOT}
        case "conversations.list":
            return conversations_list(state, params)
        case "users.lookupByEmail":
            email = text_arg(params, "email")
            if not email:
                return {"ok": False, "error": "invalid_arguments"}
            for user in state.users.values():
                if user["email"].lower() == email.strip().lower():
                    return {"ok": True, "user": user_view(user)}
            return {"ok": False, "error": "users_not_found"}
        case "conversations.open":
            users = params.get("users")
            if isinstance(users, list):
                ids = [str(u) for u in users]
            else:
                ids = [u.strip() for u in (text_arg(params, "users") or "").split(",") if u.strip()]
            if not ids:
                return {"ok": False, "error": "users_list_not_supplied"}
            for user in ids:
                if user not in state.users:
                    return {"ok": False, "error": "user_not_found"}
            if len(ids) == 1:
                channel = "D" + ids[0]
            else:
                channel = "G" + "".join(sorted(ids))
            already = channel in state.ims
            state.ims[channel] = ids
            answer = {"ok": True, "channel": {"id": channel}}
            if already:
                answer.update({"no_op": True, "already_open": True})
            return answer
        case "chat.postMessage":
            return post_message(state, params)
    return {"ok": False, "error": "unknown_method"}


def conversations_list(state, params):
    types = [t.strip() for t in (text_arg(params, "types") or "public_channel").split(",") if t.strip()]
    known = {"public_channel", "private_channel", "mpim", "im"}
    if any(t not in known for t in types):
        return {"ok": False, "error": "invalid_types"}
    found = []
    if "public_channel" in types:
        found += [channel_view(c) for c in state.channels]
    for channel, ids in state.ims.items():
        if channel.startswith("D") and "im" in types:
            found.append({"id": channel, "is_im": True, "user": ids[0], "is_member": True})
        if channel.startswith("G") and "mpim" in types:
            found.append({"id": channel, "name": "mpdm-" + "--".join(ids), "is_mpim": True, "is_member": True})
    try:
        limit = int(params.get("limit") or 0)
    except (TypeError, ValueError):
        return {"ok": False, "error": "invalid_limit"}
    page = min(limit, PAGE) if limit > 0 else PAGE
    start = 0
    cursor = text_arg(params, "cursor")
    if cursor:
        try:
            kind, _, offset = base64.b64decode(cursor, validate=True).decode().partition(":")
            start = int(offset)
            if kind != "offset" or start < 0:
                raise ValueError(cursor)
        except ValueError:
            return {"ok": False, "error": "invalid_cursor"}
    chunk = found[start : start + page]
    more = start + page < len(found)
    next_cursor = base64.b64encode(f"offset:{start + page}".encode()).decode() if more else ""
    return {"ok": True, "channels": chunk, "response_metadata": {"next_cursor": next_cursor}}


def post_message(state, params):
    target = text_arg(params, "channel")
    if not target:
        return {"ok": False, "error": "channel_not_found"}
    channel = None
    if target in state.users:
        channel = {"id": "D" + target, "is_member": True}
    elif target in state.ims:
        channel = {"id": target, "is_member": True}
    else:
        for c in state.channels:
            if target in (c["id"], c["name"], "#" + c["name"]):
                channel = c
    if channel is None:
        return {"ok": False, "error": "channel_not_found"}
    if not channel["is_member"]:
        return {"ok": False, "error": "not_in_channel"}
    text = text_arg(params, "text")
    blocks = params.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return {"ok": False, "error": "invalid_blocks_format"}
    if blocks is not None and not isinstance(blocks, list):
        return {"ok": False, "error": "invalid_blocks_format"}
    if not text and not blocks and not params.get("attachments"):
        return {"ok": False, "error": "no_text"}
    state.ts += 1
    ts = f"1700000000.{state.ts:06d}"
    state.messages.append({"channel": channel["id"], "text": text, "blocks": blocks, "ts": ts})
    message = {"type": "message", "text": text or "", "user": BOT["user_id"], "bot_id": BOT["bot_id"], "ts": ts}
    if blocks:
        message["blocks"] = blocks
    return {"ok": True, "channel": channel["id"], "ts": ts, "message": message}



def main():
    parser = argparse.ArgumentParser(description="Slack, a stand-in for the Slack Web API")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", required=True, help="the bot token every method wants")
    args = parser.parse_args()
    return httpserve.serve(Handler, args.port, state=State(), token=args.token)


if __name__ == "__main__":
    sys.exit(main())
