"""{{name}}: a keystep connector (world `connector-plugin` of
keystep:plugin@0.1.0) for an app with a JSON API of users; mock_app.py plays
one. Point it at yours in {{name}}.toml (`config.base_url`, the secret
`api_token`) and change the paths and shapes in api.py.

It offers two actions and creates accounts:

- `get-account {account_id}`: GET /users/ID, the app's user;
- `suspend-account {account_id, reason?}`: POST /users/ID/suspend;
- `create-account` with fields `{login, email, name?}`: POST /users (a login
  the app already has is linked, `already_existed=True`).

It does not sync, grant or revoke: it leaves those capabilities out of
`info` and answers them with the error code `unsupported`, as keystep
expects. Add them when your app has groups or roles to sync.

Errors are keystep's typed error record: `raise Err(Error(...))`. Any other
exception becomes an `internal` error carrying the traceback (`typed_errors`).
"""

import functools
import json
import linecache
import os
import sys
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.connector import (
    Account,
    ActionSchema,
    Capability,
    ConnectorInfo,
)
from wit_world.imports import host
from wit_world.imports.types import Error, Level

import api

ACCOUNT_ID = {"type": "string", "minLength": 1}


def typed_errors(method):
    """Passes an Err on; turns any other exception into an `internal` error
    whose message is the traceback."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Err:
            raise
        except Exception:
            raise Err(Error("internal", traceback.format_exc(), False))

    return wrapper


class Connector(exports.Connector):
    def info(self) -> ConnectorInfo:
        return ConnectorInfo(
            name="{{name}}",  # must be the component's file name: {{name}}.wasm
            version="0.1.0",
            description="Accounts in an app with a JSON API of users",
            capabilities=[Capability.ACCOUNT_PROVISIONING, Capability.ACTIONS],
            actions=[
                ActionSchema(
                    "get-account",
                    "The app's record of an account",
                    schema({"account_id": ACCOUNT_ID}, ["account_id"]),
                ),
                ActionSchema(
                    "suspend-account",
                    "Suspends an account so that it can no longer sign in",
                    schema({"account_id": ACCOUNT_ID, "reason": {"type": "string"}}, ["account_id"]),
                ),
            ],
            account_schema=schema(
                {
                    "login": {"type": "string", "pattern": "^[a-z][a-z0-9._-]*$"},
                    "email": {"type": "string", "minLength": 3},
                    "name": {"type": "string"},
                },
                ["login", "email"],
            ),
        )

    def sync(self, kind, cursor):
        raise unsupported("sync")

    def grant(self, change):
        raise unsupported("grant")

    def revoke(self, change):
        raise unsupported("revoke")

    @typed_errors
    def create_account(self, request) -> Account:
        fields = json.loads(request.fields)  # checked against the account schema
        app = api.Api.from_config()
        body = {"login": fields["login"], "email": fields["email"], "name": fields.get("name")}
        status, answer = app.send("POST", "/users", body, request.idempotency_key)
        # 409: the app has this login already; link that account.
        already = status == 409 and isinstance(answer, dict) and isinstance(answer.get("user"), dict)
        user = answer["user"] if already else api.check("POST /users", status, answer)
        host.log(Level.INFO, f"account {user['id']} for {fields['login']}")
        return Account(str(user["id"]), fields["login"], json.dumps(user), already)

    @typed_errors
    def invoke_action(self, name: str, arguments: str, idempotency_key: str) -> str:
        args = json.loads(arguments)  # checked against the action's schema
        app = api.Api.from_config()
        path = f"/users/{api.segment(args['account_id'])}"
        if name == "get-account":
            user = app.call("GET", path, None, idempotency_key)
        elif name == "suspend-account":
            body = {"reason": args.get("reason")}
            user = app.call("POST", f"{path}/suspend", body, idempotency_key)
        else:
            raise api.invalid(f"{{name}} has no action {name!r}")
        return json.dumps(user)


def schema(properties: dict, required: list) -> str:
    """An object schema with these properties, these required, no others."""
    return json.dumps(
        {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    )


def unsupported(call: str) -> Err:
    return Err(Error("unsupported", f"{{name}} does not {call}", False))


def keep_sources() -> None:
    """Puts this project's sources into linecache, so that a traceback shows
    each line and not only its number: componentize-py runs this module at
    build time, when the files are there, and snapshots the interpreter; the
    component itself carries no sources."""
    here = os.path.dirname(os.path.abspath(__file__))
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if os.path.dirname(os.path.abspath(path)) == here:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
            # No mtime: linecache keeps the entry without looking for the file.
            linecache.cache[path] = (sum(map(len, lines)), None, lines, path)


keep_sources()
