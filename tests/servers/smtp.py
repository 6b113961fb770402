#!/usr/bin/env python3
"""SMTP: a real mail server (aiosmtpd) for the email step's tests.

Python 3.11 with aiosmtpd and trustme (see requirements.txt). It wants
authentication (PLAIN or LOGIN) from one user, and by default STARTTLS before
it: the certificate it shows is for `localhost` and `127.0.0.1`, signed by a
throw-away CA that it writes to `--cert-dir` so that clients can trust it.

    python3 tests/servers/smtp.py --port 0 --user bot --password pw \
        --cert-dir /tmp/x/certs --spool /tmp/x/spool --reject nobody@example.com
    -> prints `listening 127.0.0.1:<port>` once started, and nothing else

Arguments:
    --port N          0 picks a free port
    --user, --password  the only credentials AUTH accepts
    --cert-dir DIR    writes ca.pem (the CA to trust), server.pem (the server's
                      certificate) and server.key; needed unless --mode plain
    --spool DIR       every accepted message is also written there as N.json
                      (N = 1, 2, ...; written whole, then renamed into place)
    --reject ADDR     RCPT TO:<ADDR> answers `550 5.1.1 no such user`
                      (repeatable, case-insensitive)
    --mode starttls   (default) plain TCP; STARTTLS is required before anything
                      but EHLO/NOOP/QUIT, and AUTH before MAIL
    --mode tls        implicit TLS from the first byte (SMTPS), then AUTH
    --mode plain      no TLS at all, AUTH still required

A spooled message is
    {"mail_from": "...", "rcpt_tos": ["accepted", ...], "data": "raw message",
     "auth_user": "...", "tls": true}
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def quiet():
    """aiosmtpd logs every connection and warns about AUTH without TLS; a
    client that hangs up in the middle of a TLS handshake makes asyncio
    complain. None of it is news for a test server."""
    warnings.filterwarnings("ignore")
    for name in ("mail.log", "asyncio"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False
        logger.disabled = True


def make_certs(cert_dir):
    """Writes a fresh CA and a server certificate it signed; returns the
    server's SSL context."""
    import trustme

    os.makedirs(cert_dir, exist_ok=True)
    ca = trustme.CA(organization_name="keystep tests")
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(os.path.join(cert_dir, "ca.pem"))
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    with open(os.path.join(cert_dir, "server.pem"), "wb") as f:
        f.write(chain)
    leaf.private_key_pem.write_to_path(os.path.join(cert_dir, "server.key"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context


class Handler:
    def __init__(self, reject, spool):
        self.reject = {address.lower() for address in reject}
        self.spool = spool
        self.messages = []
        if spool:
            os.makedirs(spool, exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content
        if isinstance(content, bytes):
            content = content.decode("utf-8", errors="replace")
        login = session.login_data
        if isinstance(login, bytes):
            login = login.decode("utf-8", errors="replace")
        transport = server.transport
        tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        message = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": content,
            "auth_user": login,
            "tls": tls,
        }
        self.messages.append(message)
        number = len(self.messages)
        if self.spool:
            final = os.path.join(self.spool, f"{number}.json")
            partial = os.path.join(self.spool, f".{number}.json.partial")
            with open(partial, "w", encoding="utf-8") as f:
                json.dump(message, f, indent=1)
            os.replace(partial, final)
        return f"250 2.0.0 OK queued as {number}"


def authenticator(user, password):
    user, password = user.encode(), password.encode()

    def check(server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user
            and auth_data.password == password
        ):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    return check


async def serve(args):
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: None)
    context = make_certs(args.cert_dir) if args.cert_dir else None
    handler = Handler(args.reject or [], args.spool)
    check = authenticator(args.user, args.password)

    def factory():
        common = dict(
            hostname="localhost",
            authenticator=check,
            auth_required=True,
            auth_exclude_mechanism=[],
            loop=loop,
        )
        if args.mode == "starttls":
            return SMTP(
                handler,
                tls_context=context,
                require_starttls=True,
                auth_require_tls=True,
                **common,
            )
        # Implicit TLS: aiosmtpd only knows about TLS it started itself
        # (STARTTLS), so it must be told not to insist on it for AUTH; every
        # byte is encrypted anyway.
        return SMTP(handler, auth_require_tls=False, **common)

    server = await loop.create_server(
        factory,
        "127.0.0.1",
        args.port,
        ssl=context if args.mode == "tls" else None,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description="SMTP, a test mail server")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cert-dir", help="where ca.pem, server.pem and server.key go")
    parser.add_argument("--spool", help="where each accepted message goes as N.json")
    parser.add_argument("--reject", action="append", help="an address RCPT TO refuses")
    parser.add_argument("--mode", choices=["starttls", "tls", "plain"], default="starttls")
    args = parser.parse_args()
    if args.mode != "plain" and not args.cert_dir:
        parser.error(f"--mode {args.mode} needs --cert-dir")
    quiet()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
