"""{{name}}: a keystep function (world `function` of keystep:plugin@0.1.0).

It decides whether a request for an entitlement can be approved at once,
needs a review, or must be denied, from the user and the grants keystep's
directory holds:

    in:  {"user_id": "u-ada", "entitlement": "github:admin"}
    out: {"user": "u-ada", "entitlement": "github:admin", "decision": "review",
          "reasons": ["github:admin is privileged"], "grants": 1}

This module is the glue to the host (the input, the directory, the log);
decide.py is the decision, plain Python that test_decide.py tests.

Errors are keystep's typed error record: `raise Err(Error(code, message,
retryable))`. Any other exception becomes an `internal` error whose message
is the traceback, so a bug shows where it is in the step's error.
"""

import json
import linecache
import os
import sys
import traceback

import wit_world
from componentize_py_types import Err
from wit_world.imports import directory, host
from wit_world.imports.types import Error, Level

from decide import Grant, User, decide

EXPECTED = 'expected {"user_id": ID, "entitlement": "APP:SLUG"}'


class WitWorld(wit_world.WitWorld):
    def call(self, input: str) -> str:
        try:
            return call(input)
        except Err:
            raise
        except Exception:
            raise Err(Error("internal", traceback.format_exc(), False))


def call(input: str) -> str:
    try:
        args = json.loads(input)
    except ValueError as e:
        raise invalid(f"input is not JSON ({e})")
    if not isinstance(args, dict):
        raise invalid("input is not an object")
    user_id, entitlement = args.get("user_id"), args.get("entitlement")
    if not isinstance(user_id, str) or not isinstance(entitlement, str):
        raise invalid("user_id and entitlement must be strings")
    if ":" not in entitlement:
        raise invalid(f"entitlement {entitlement!r} is not APP:SLUG")
    # A failing import raises Err(Error) itself: it propagates unchanged.
    found = directory.get_user(user_id)
    if found is None:
        raise Err(Error("not-found", f"no user {user_id}", False))
    user = User.from_json(found)
    grants = [Grant.from_json(g) for g in directory.list_grants(user_id)]
    decision = decide(user, entitlement, grants)
    host.log(Level.INFO, f"{entitlement}: {decision['decision']} for {user.id}")
    return json.dumps(decision)


def invalid(why: str) -> Err:
    return Err(Error("invalid-argument", f"{why}: {EXPECTED}", False))


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
