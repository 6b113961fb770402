"""The risk scorer as a keystep function plugin in Python (componentize-py).

Input is `{"user_id": "u-ada"}` (the user and their grants are read from
keystep's directory) or `{"user": {...}, "grants": [...]}` given inline.
Scores exactly like ../risk-rust and ../risk-js.

Build: componentize-py -d ../../wit/v0.1.0 -w function componentize app -o risk-python.wasm
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import directory, host
from wit_world.imports.types import Error, Level

PRIVILEGED = ("admin", "owner", "root")
CHANGES = ("write", "maintain", "deploy", "billing")
EXPECTED = 'expected {"user_id": ID} or {"user": USER, "grants": [GRANT, ...]}'


class WitWorld(wit_world.WitWorld):
    def call(self, input: str) -> str:
        try:
            args = json.loads(input)
        except ValueError as e:
            raise invalid(f"input is not JSON ({e})")
        if not isinstance(args, dict):
            raise invalid("input is not an object")
        if "user_id" in args:
            user_id = args["user_id"]
            if not isinstance(user_id, str):
                raise invalid("user_id is not a string")
            # An Err raised by an import propagates unchanged.
            found = directory.get_user(user_id)
            if found is None:
                raise Err(Error("not-found", f"no user {user_id}", False))
            user = parse(found)
            grants = [parse(g) for g in directory.list_grants(user_id)]
        elif "user" in args:
            user = args["user"]
            grants = args.get("grants")
            if grants is None:
                grants = []
            elif not isinstance(grants, list):
                raise invalid("grants is not a list")
        else:
            raise invalid("neither user_id nor user given")
        if not isinstance(user, dict):
            raise invalid("user is not an object")
        result = score(user, grants)
        host.log(Level.INFO, f"scored {text(result, 'user')}: {result['score']}")
        return json.dumps(result)


def score(user: dict, grants: list) -> dict:
    """The score, identical in the Rust and JavaScript versions."""
    total = 0
    reasons = []
    scored = []
    for grant in grants:
        entitlement = text(grant, "entitlement")
        slug = text(grant, "slug")
        if any(w in slug for w in PRIVILEGED):
            points = 30
            reasons.append(f"{entitlement} is privileged")
        elif any(w in slug for w in CHANGES):
            points = 10
            reasons.append(f"{entitlement} can change things")
        else:
            points = 2
        total += points
        scored.append({"entitlement": entitlement, "points": points})
    status = text(user, "status")
    if status != "active" and grants:
        total += 25
        reasons.append(f"{status} user still holds {len(grants)} grants")
    if user.get("manager_id") is None:
        total += 5
        reasons.append("no manager")
    total = min(total, 100)
    level = "high" if total >= 60 else "medium" if total >= 25 else "low"
    return {
        "user": user.get("id"),
        "score": total,
        "level": level,
        "grants": len(grants),
        "reasons": reasons,
        "scored": scored,
    }


def text(obj, key: str) -> str:
    """A string field, or "" when it is missing or not a string."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def parse(doc: str):
    try:
        return json.loads(doc)
    except ValueError as e:
        raise Err(Error("internal", f"the directory returned bad JSON: {e}", False))


def invalid(why: str) -> Err:
    return Err(Error("invalid-argument", f"{why}: {EXPECTED}", False))


# Warm the scorer at build time: componentize-py snapshots the interpreter
# after this module is imported, so every fresh instance starts with the
# scoring code already run (its bytecode specialised) rather than cold.
_SAMPLE = json.loads(
    '{"user": {"id": "u", "status": "disabled", "manager_id": null},'
    ' "grants": [{"entitlement": "a:admin", "slug": "admin"},'
    ' {"entitlement": "a:write", "slug": "write"}, {"entitlement": "a:x", "slug": "x"}]}'
)
for _ in range(10):
    json.dumps(score(_SAMPLE["user"], _SAMPLE["grants"]))
