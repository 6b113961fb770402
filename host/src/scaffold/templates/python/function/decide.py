"""The decision, and the shapes it reads: plain Python, no host calls, so
`python3 -m unittest` tests it without building anything."""

import json
from dataclasses import dataclass, field, fields
from typing import Any, Optional

# Slugs containing one of these words are privileged.
PRIVILEGED = ("admin", "owner", "root")


def _from_json(cls, doc: str):
    """An instance of the dataclass `cls` from a JSON object, keeping the
    fields it declares (a field keystep adds later is ignored)."""
    data = json.loads(doc)
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class User:
    """A user, as directory.get_user answers it."""

    id: str
    status: str = "active"  # active, disabled, inactive or deleted
    email: Optional[str] = None
    display_name: Optional[str] = None
    username: Optional[str] = None
    manager_id: Optional[str] = None
    department: Optional[str] = None
    title: Optional[str] = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: str) -> "User":
        return _from_json(cls, doc)


@dataclass
class Grant:
    """A grant the user holds, as directory.list_grants answers it."""

    entitlement: str  # APP:SLUG
    app: str
    slug: str
    name: Optional[str] = None
    resource_type: Optional[str] = None
    resource: Optional[str] = None
    source: Optional[str] = None  # who added it: import, sync, a run
    granted_at: Optional[str] = None

    @classmethod
    def from_json(cls, doc: str) -> "Grant":
        return _from_json(cls, doc)


def decide(user: User, entitlement: str, grants: list[Grant]) -> dict:
    """Deny a user who is not active; approve what they already hold; review
    a privileged entitlement or a user without a manager; approve the rest."""
    slug = entitlement.split(":", 1)[1]
    if user.status != "active":
        decision, reasons = "deny", [f"{user.id} is {user.status}"]
    elif any(g.entitlement == entitlement for g in grants):
        decision, reasons = "approve", [f"{user.id} already holds {entitlement}"]
    else:
        reasons = []
        if any(word in slug for word in PRIVILEGED):
            reasons.append(f"{entitlement} is privileged")
        if user.manager_id is None:
            reasons.append(f"{user.id} has no manager to approve")
        decision = "review" if reasons else "approve"
        reasons = reasons or [f"{entitlement} is not privileged"]
    return {
        "user": user.id,
        "entitlement": entitlement,
        "decision": decision,
        "reasons": reasons,
        "grants": len(grants),
    }
