#!/usr/bin/env python3
"""Tracker: a small project-tracker web app for the tracker connector's tests.

Python 3.11 standard library only. In-memory users and groups behind a
bearer token, plus test-only endpoints (no token) to look at the state and to
make the API misbehave.

    python3 tests/servers/tracker.py --port 0 --token secret
    -> prints `listening 127.0.0.1:<port>` once started

API (every /api request needs `Authorization: Bearer <token>`, else 401):
    GET    /api/users?cursor=N              {"users": [user...], "next": "N" | null} (2 a page)
    POST   /api/users                       {login, email, name} -> 201 user | 409 | 400
    POST   /api/users/{login}/lock          {"login", "locked": true}
    POST   /api/users/{login}/unlock        {"login", "locked": false}
    GET    /api/groups                      {"groups": [{slug, name}...]}
    GET    /api/groups/{slug}/members       {"members": [login...]}
    PUT    /api/groups/{slug}/members/{login}   {"ok": true}
    DELETE /api/groups/{slug}/members/{login}   {"ok": true} | 404 when not a member
A user is {login, email, name, active}.

Test-only:
    GET  /_state        users, groups with members, and every /api request seen
    POST /_fail?n=N     the next N /api requests answer 503 {"error": "try later"}
    POST /_echo_auth    from now on, careless: every /api answer carries the
                        Authorization header it got, as "authorization" and
                        at the end of an "error"
    GET  /hang          never answers (sleeps an hour)
    GET  /redirect?to=U 302 to U
    GET  /hello         200 "hello"
"""

import argparse
import json
import sys
import threading
import time
from urllib.parse import parse_qs, unquote, urlsplit

import httpserve

PAGE = 2


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.users = {}
        for login, email, name in [
            ("ada", "ada@example.com", "Ada Lovelace"),
            ("grace", "grace@example.com", "Grace Hopper"),
            ("linus", "linus@example.com", "Linus Torvalds"),
        ]:
            self.users[login] = {"login": login, "email": email, "name": name, "active": True}
        self.groups = {
            "admin": {"slug": "admin", "name": "Admins", "members": ["ada"]},
            "developers": {"slug": "developers", "name": "Developers", "members": ["ada", "grace"]},
            "viewers": {"slug": "viewers", "name": "Viewers", "members": ["linus"]},
        }
        self.requests = []
        self.fail = 0
        self.echo_auth = False


class Handler(httpserve.Handler):
    server_version = "Tracker/0.1"

    def body(self):
        raw = self.raw_body()
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def route(self, method):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        state = self.server.state
        # Read the body first so that the connection stays usable whatever
        # the answer.
        body = self.body()
        if parts and parts[0] == "api":
            with state.lock:
                state.requests.append(
                    {
                        "method": method,
                        "path": self.path,
                        "idempotency_key": self.headers.get("Idempotency-Key"),
                    }
                )
                failing = state.fail > 0
                if failing:
                    state.fail -= 1
            if self.headers.get("Authorization") != f"Bearer {self.server.token}":
                return self.answer(401, {"error": "bad token"})
            if failing:
                return self.answer(503, {"error": "try later"})
            if body is None:
                return self.answer(400, {"error": "the body is not a JSON object"})
            with state.lock:
                status, answer = api(state, method, parts[1:], query, body)
            return self.answer(status, answer)
        return self.test_only(method, url.path, query)

    def answer(self, status, answer):
        """Sends an /api answer, with the Authorization header when careless."""
        if self.server.state.echo_auth and isinstance(answer, dict):
            sent = self.headers.get("Authorization")
            answer = dict(answer, authorization=sent)
            if "error" in answer:
                answer["error"] = f"{answer['error']} (you sent {sent})"
        return self.send(status, answer)

    def test_only(self, method, path, query):
        state = self.server.state
        if method == "GET" and path == "/_state":
            with state.lock:
                return self.send(
                    200,
                    {
                        "users": list(state.users.values()),
                        "groups": list(state.groups.values()),
                        "requests": list(state.requests),
                    },
                )
        if method == "POST" and path == "/_fail":
            with state.lock:
                state.fail = int(query.get("n", ["1"])[0])
                return self.send(200, {"fail": state.fail})
        if method == "POST" and path == "/_echo_auth":
            with state.lock:
                state.echo_auth = True
                return self.send(200, {"echo_auth": True})
        if method == "GET" and path == "/hang":
            time.sleep(3600)
            return self.send(200, "woke up")
        if method == "GET" and path == "/redirect":
            to = query.get("to", [""])[0]
            return self.send(302, "", [("Location", to)])
        if method == "GET" and path == "/hello":
            return self.send(200, "hello")
        return self.send(404, {"error": "no such endpoint"})


def api(state, method, parts, query, body):
    """Answers an authorised /api request: (status, JSON body)."""
    match (method, parts):
        case ("GET", ["users"]):
            try:
                start = int(query.get("cursor", ["0"])[0] or 0)
            except ValueError:
                return 400, {"error": "bad cursor"}
            users = list(state.users.values())
            page = users[start : start + PAGE]
            more = start + PAGE < len(users)
            return 200, {"users": page, "next": str(start + PAGE) if more else None}
        case ("POST", ["users"]):
            login, email = body.get("login"), body.get("email")
            if not isinstance(login, str) or not login or not isinstance(email, str) or not email:
                return 400, {"error": "login and email are required"}
            if login in state.users:
                return 409, {"error": "login taken", "user": state.users[login]}
            name = body.get("name") if isinstance(body.get("name"), str) else login
            user = {"login": login, "email": email, "name": name, "active": True}
            state.users[login] = user
            return 201, user
        case ("POST", ["users", login, ("lock" | "unlock") as verb]):
            user = state.users.get(login)
            if user is None:
                return 404, {"error": f"no user {login}"}
            user["active"] = verb == "unlock"
            return 200, {"login": login, "locked": not user["active"]}
        case ("GET", ["groups"]):
            groups = [{"slug": g["slug"], "name": g["name"]} for g in state.groups.values()]
            return 200, {"groups": groups}
        case ("GET", ["groups", slug, "members"]):
            group = state.groups.get(slug)
            if group is None:
                return 404, {"error": f"no group {slug}"}
            return 200, {"members": list(group["members"])}
        case (("PUT" | "DELETE") as verb, ["groups", slug, "members", login]):
            group = state.groups.get(slug)
            if group is None:
                return 404, {"error": f"no group {slug}"}
            if login not in state.users:
                return 404, {"error": f"no user {login}"}
            if verb == "PUT":
                if login not in group["members"]:
                    group["members"].append(login)
            else:
                if login not in group["members"]:
                    return 404, {"error": f"{login} is not in {slug}"}
                group["members"].remove(login)
            return 200, {"ok": True}
    return 404, {"error": "no such endpoint"}



def main():
    parser = argparse.ArgumentParser(description="Tracker, a test web app")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", required=True, help="the bearer token the API wants")
    args = parser.parse_args()
    return httpserve.serve(Handler, args.port, state=State(), token=args.token)


if __name__ == "__main__":
    sys.exit(main())
