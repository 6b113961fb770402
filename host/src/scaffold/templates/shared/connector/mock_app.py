"""A stand-in for the app {{name}} talks to, so the connector can be tried
without one: a JSON API of users, in memory, on 127.0.0.1.

    python3 mock_app.py [--port N] [--port-file PATH]

  GET  /users/ID           the user, or 404
  POST /users              {login, email, name?}: creates a user (201), or 409
                           with the existing one when the login is taken
  POST /users/ID/suspend   {reason?}: suspends the user (200), or 404

Every request needs `Authorization: Bearer TOKEN` ($MOCK_APP_TOKEN, else
test-token). A repeated Idempotency-Key gets the first answer again.
Replace it with your app: only the URLs and the JSON shapes are its own.
"""

import argparse
import json
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = os.environ.get("MOCK_APP_TOKEN", "test-token")
USERS = {"1": {"id": "1", "login": "ada", "email": "ada@example.com",
               "name": "Ada Lovelace", "status": "active"}}
ANSWERS = {}  # Idempotency-Key -> (status, body)


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.answer(401, {"error": "missing or wrong bearer token"})
        key = self.headers.get("Idempotency-Key")
        if method == "POST" and key in ANSWERS:
            return self.answer(*ANSWERS[key])
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.answer(400, {"error": "the body is not JSON"})
        status, answer = self.handle_request(method, self.path, body)
        if method == "POST" and key:
            ANSWERS[key] = (status, answer)
        self.answer(status, answer)

    def handle_request(self, method, path, body):
        if method == "POST" and path == "/users":
            return create(body)
        found = re.fullmatch(r"/users/([^/]+)(/suspend)?", path)
        if not found:
            return 404, {"error": f"no route {method} {path}"}
        user = USERS.get(found.group(1))
        if user is None:
            return 404, {"error": f"no user {found.group(1)}"}
        if method == "GET" and not found.group(2):
            return 200, user
        if method == "POST" and found.group(2):
            user["status"] = "suspended"
            user["suspended_reason"] = body.get("reason")
            return 200, user
        return 405, {"error": f"{method} not allowed on {path}"}

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


def create(body):
    login, email = body.get("login"), body.get("email")
    if not isinstance(login, str) or not isinstance(email, str):
        return 400, {"error": "login and email are required"}
    for user in USERS.values():
        if user["login"] == login:
            return 409, {"error": f"login {login} is taken", "user": user}
    user = {"id": str(len(USERS) + 1), "login": login, "email": email,
            "name": body.get("name") or login, "status": "active"}
    USERS[user["id"]] = user
    return 201, user


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), App)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"mock app on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
