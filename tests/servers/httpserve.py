"""What the HTTP test servers share: a quiet threaded server on 127.0.0.1
that prints the one `listening 127.0.0.1:PORT` line the harness waits for,
and a handler base that sends every method to `route(method)` and answers
JSON (or text, or raw bytes)."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The Content-Type of JSON answers.
    json_type = "application/json"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def do_PATCH(self):
        self.route("PATCH")

    def do_HEAD(self):
        self.route("HEAD")

    def route(self, method):
        raise NotImplementedError

    def raw_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body, headers=()):
        """Answers `body`: bytes as they are, dicts and lists as JSON,
        anything else as text."""
        kind = self.json_type
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        else:
            data = str(body).encode()
            kind = "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # Hundreds of runs may connect at once; the default backlog of 5 would
    # make the rest wait a second for a SYN retransmission.
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # Quiet: a client that hangs up (the hang tests do) is no news.
        pass


def serve(handler, port, **attributes):
    """Serves `handler` on 127.0.0.1:`port` (0 picks one) until killed; the
    handler reaches `attributes` as `self.server.<name>`."""
    server = Server(("127.0.0.1", port), handler)
    for name, value in attributes.items():
        setattr(server, name, value)
    print(f"listening 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
