#!/usr/bin/env python3
"""Webhook: a receiver that checks Standard Webhooks signatures, for the
webhook step's tests.

Python 3.11 standard library plus the independent `standardwebhooks` package
(see requirements.txt), which does the verifying
(https://www.standardwebhooks.com/): headers `webhook-id`,
`webhook-timestamp` (Unix seconds, at most 5 minutes off) and
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
several separated by spaces).

    python3 tests/servers/webhook.py --port 0 --secret whsec_<base64>
    -> prints `listening 127.0.0.1:<port>` once started

    POST /hook (or any path under /hook...)
        bad or missing signature -> 401 {"error": "bad signature: ..."}
        verified, body not JSON  -> 400 {"error": "the body is not JSON: ..."}
        verified                 -> 200 {"received": <deliveries so far with
                                    this webhook-id>, "id": <webhook-id>}
                                    and the delivery is recorded

Test-only:
    POST /_script  JSON, each key optional and independent:
        {"fail": N, "status": 503}  the next N verified deliveries answer
                                    that status (default 503); recorded as
                                    attempts, not as deliveries
        {"hang": N}                 the next N verified deliveries never
                                    answer (sleep an hour); recorded as
                                    attempts with status null
        {"big": N}                  the next success answers N bytes of JSON,
                                    {"pad": "xxx..."}, instead of the usual
        {"slow": N, "delay_ms": D}  the next N successes answer after D ms
                                    (default 5000); recorded as deliveries
                                    when they arrive
        A hang comes before a fail, a fail before a success.
    GET  /_state   {deliveries: [{id, timestamp, path, body, headers,
                    received_at, answered_at}], attempts: [{id, status}],
                    script: {...}}
                   headers are lower-cased, without webhook-signature; every
                   request to /hook... is an attempt, 401s included;
                   received_at and answered_at are Unix seconds (float) when
                   the request came in and when its answer went out
                   (answered_at null until then)
    POST /_reset   forgets deliveries, attempts and the script
"""

import argparse
import json
import sys
import threading
import time
from urllib.parse import urlsplit

import httpserve

import standardwebhooks


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.deliveries = []
        self.attempts = []
        self.fail = 0
        self.fail_status = 503
        self.hang = 0
        self.big = None
        self.slow = 0
        self.delay_ms = 5000


class Handler(httpserve.Handler):
    server_version = "WebhookReceiver/0.1"

    def route(self, method):
        url = urlsplit(self.path)
        # Read the body first so that the connection stays usable whatever
        # the answer.
        raw = self.raw_body()
        if url.path.startswith("/hook"):
            return self.hook(url.path, raw)
        return self.test_only(method, url.path, raw)

    def hook(self, path, raw):
        state = self.server.state
        received_at = time.time()
        headers = {name.lower(): value for name, value in self.headers.items()}
        msg_id = headers.get("webhook-id")
        try:
            self.server.webhook.verify(raw, headers, json_parse=False)
        except Exception as error:
            # The library raises WebhookVerificationError for what it
            # expects, and ValueError and friends for a malformed header.
            with state.lock:
                state.attempts.append({"id": msg_id, "status": 401})
            return self.send(401, {"error": f"bad signature: {error or type(error).__name__}"})
        try:
            body = json.loads(raw)
        except ValueError as error:
            with state.lock:
                state.attempts.append({"id": msg_id, "status": 400})
            return self.send(400, {"error": f"the body is not JSON: {error}"})
        with state.lock:
            if state.hang > 0:
                state.hang -= 1
                state.attempts.append({"id": msg_id, "status": None})
                hang = True
            else:
                hang = False
            if not hang and state.fail > 0:
                state.fail -= 1
                status = state.fail_status
                state.attempts.append({"id": msg_id, "status": status})
                failing = True
            else:
                failing = False
            if not hang and not failing:
                shown = {k: v for k, v in headers.items() if k != "webhook-signature"}
                delivery = {
                    "id": msg_id,
                    "timestamp": headers.get("webhook-timestamp"),
                    "path": path,
                    "body": body,
                    "headers": shown,
                    "received_at": received_at,
                    "answered_at": None,
                }
                state.deliveries.append(delivery)
                state.attempts.append({"id": msg_id, "status": 200})
                received = sum(1 for d in state.deliveries if d["id"] == msg_id)
                big, state.big = state.big, None
                delay = 0
                if state.slow > 0:
                    state.slow -= 1
                    delay = state.delay_ms / 1000
        if hang:
            time.sleep(3600)
            return self.send(504, {"error": "woke up"})
        if failing:
            return self.send(status, {"error": f"scripted failure {status}"})
        time.sleep(delay)
        with state.lock:
            delivery["answered_at"] = time.time()
        if big is not None:
            return self.send(200, padding(big))
        return self.send(200, {"received": received, "id": msg_id})

    def test_only(self, method, path, raw):
        state = self.server.state
        if method == "GET" and path == "/_state":
            with state.lock:
                return self.send(
                    200,
                    {
                        "deliveries": list(state.deliveries),
                        "attempts": list(state.attempts),
                        "script": {
                            "fail": state.fail,
                            "status": state.fail_status,
                            "hang": state.hang,
                            "big": state.big,
                            "slow": state.slow,
                            "delay_ms": state.delay_ms,
                        },
                    },
                )
        if method == "POST" and path == "/_script":
            try:
                doc = json.loads(raw or b"{}")
                if not isinstance(doc, dict):
                    raise ValueError("not an object")
                fail = doc.get("fail")
                status = doc.get("status")
                hang = doc.get("hang")
                big = doc.get("big")
                slow = doc.get("slow")
                delay_ms = doc.get("delay_ms")
                for value in (fail, status, hang, big, slow, delay_ms):
                    whole = isinstance(value, int) and not isinstance(value, bool)
                    if value is not None and (not whole or value < 0):
                        raise ValueError("fail, status, hang, big, slow and delay_ms are whole numbers")
                if status is not None and not 100 <= status <= 599:
                    raise ValueError("status is an HTTP status")
            except ValueError as error:
                return self.send(400, {"error": str(error)})
            with state.lock:
                if fail is not None:
                    state.fail = fail
                    state.fail_status = status if status is not None else 503
                elif status is not None:
                    state.fail_status = status
                if hang is not None:
                    state.hang = hang
                if big is not None:
                    state.big = big
                if slow is not None:
                    state.slow = slow
                if delay_ms is not None:
                    state.delay_ms = delay_ms
                script = {
                    "fail": state.fail,
                    "status": state.fail_status,
                    "hang": state.hang,
                    "big": state.big,
                    "slow": state.slow,
                    "delay_ms": state.delay_ms,
                }
            return self.send(200, script)
        if method == "POST" and path == "/_reset":
            with state.lock:
                state.reset()
            return self.send(200, {"reset": True})
        return self.send(404, {"error": "no such endpoint"})


def padding(size):
    """A JSON object of exactly `size` bytes (or the smallest one there is)."""
    empty = len(b'{"pad": ""}')
    return b'{"pad": "' + b"x" * max(size - empty, 0) + b'"}'



def main():
    parser = argparse.ArgumentParser(description="Webhook, a Standard Webhooks receiver")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--secret", required=True, help="whsec_<base64>, as the sender signs with")
    args = parser.parse_args()
    try:
        webhook = standardwebhooks.Webhook(args.secret)
    except Exception as error:
        parser.error(f"--secret: {error}")
    return httpserve.serve(Handler, args.port, state=State(), webhook=webhook)


if __name__ == "__main__":
    sys.exit(main())
