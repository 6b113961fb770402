"""The app's API: where it is (`config.base_url`), its token (the secret
`api_token`, sent as a bearer token), and its answers mapped to keystep's
error codes. Change the paths and headers here to fit your app."""

import json
from urllib.parse import quote

from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.host import HttpRequest
from wit_world.imports.types import Error


class Api:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.token = token

    @classmethod
    def from_config(cls) -> "Api":
        config = json.loads(host.config())
        base_url = config.get("base_url")
        if not isinstance(base_url, str) or not base_url:
            raise invalid("{{name}}.toml has no config.base_url")
        # Raises Err(denied) unless the grant file names the secret.
        return cls(base_url, host.secret("api_token"))

    def send(self, method: str, path: str, body, idempotency_key: str):
        """Sends a request; answers the status and the body as JSON (None when
        it is not JSON). Raises only when the request fails: `denied` (a host
        the grant file does not allow) or `unavailable` (retryable)."""
        headers = [
            ("Authorization", f"Bearer {self.token}"),
            ("Accept", "application/json"),
            # The same on a replay after a crash: the app can skip a repeat.
            ("Idempotency-Key", idempotency_key),
        ]
        data = None
        if body is not None:
            headers.append(("Content-Type", "application/json"))
            data = json.dumps(body).encode()
        response = host.http_fetch(HttpRequest(method, self.base_url + path, headers, data, None))
        try:
            answer = json.loads(response.body)
        except ValueError:
            answer = None
        return response.status, answer

    def call(self, method: str, path: str, body, idempotency_key: str):
        """Sends a request; the answer of a 2xx, else raises its error."""
        status, answer = self.send(method, path, body, idempotency_key)
        return check(f"{method} {path}", status, answer)


def check(what: str, status: int, answer):
    """The answer of a 2xx; any other status raised as an error with keystep's
    code for it, retryable when trying again later may work."""
    if 200 <= status < 300:
        return answer
    if status in (401, 403):
        code, retryable = "denied", False
    elif status == 404:
        code, retryable = "not-found", False
    elif status == 409:
        code, retryable = "already-exists", False
    elif status == 429:
        code, retryable = "rate-limited", True
    elif status >= 500:
        code, retryable = "unavailable", True
    else:
        code, retryable = "invalid-argument", False
    why = answer.get("error") if isinstance(answer, dict) else None
    raise Err(Error(code, f"{{name}}: {what} answered {status}: {why or 'no error message'}", retryable))


def segment(text: str) -> str:
    """Percent-encodes all but unreserved characters, for a path segment."""
    return quote(text, safe="")


def invalid(why: str) -> Err:
    return Err(Error("invalid-argument", why, False))
