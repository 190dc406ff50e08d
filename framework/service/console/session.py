"""The console's sign-in: a signed session cookie (HttpOnly, SameSite=Strict) naming an API key
by id, and a CSRF token derived from the session that every form must send back."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import sqlalchemy as sa
from fastapi import Request, Response

from framework.service.auth import key_hash
from framework.service.db import ApiKey, Database

COOKIE = "hydratune_session"
MAX_AGE = 12 * 3600  # a session lasts a working day; then sign in again


class SignedOut(Exception):
    """No valid session: the page redirects to the sign-in form."""


class PageError(Exception):
    """A console page that cannot be shown: its HTTP status and a message for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def load_secret(data_dir: Path) -> bytes:
    """The server's signing secret (<data_dir>/console.secret, mode 0600, made once)."""
    path = data_dir / "console.secret"
    if not path.is_file():
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
        os.replace(temporary, path)
    return bytes.fromhex(path.read_text().strip())


def sign(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def key_of(db: Database, api_key: str) -> ApiKey | None:
    """The active key row of a typed API key, or None."""
    with db.session() as session:
        row = session.execute(
            sa.select(ApiKey).where(ApiKey.key_hash == key_hash(api_key.strip()))
        ).scalar_one_or_none()
    return row if row is not None and row.revoked_at is None else None


def session_value(secret: bytes, key_id: str, issued: int) -> str:
    """The cookie: key id, issue time and their signature."""
    body = f"{key_id}.{issued}"
    return f"{body}.{sign(secret, body)}"


def set_session(response: Response, secret: bytes, key_id: str, secure: bool) -> None:
    """Sign in: the session cookie, HttpOnly and SameSite=Strict (Secure over https)."""
    response.set_cookie(
        COOKIE,
        session_value(secret, key_id, int(time.time())),
        max_age=MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def session_project(request: Request) -> tuple[str, str]:
    """(project, cookie) of a signed-in request; SignedOut otherwise (bad signature, expired,
    revoked key)."""
    cookie = request.cookies.get(COOKIE, "")
    key_id, _, rest = cookie.partition(".")
    issued, _, signature = rest.partition(".")
    secret: bytes = request.app.state.console_secret
    expected = sign(secret, f"{key_id}.{issued}")
    if not cookie or not hmac.compare_digest(expected, signature) or not issued.isdigit():
        raise SignedOut
    if time.time() - int(issued) > MAX_AGE:
        raise SignedOut
    db: Database = request.app.state.db
    with db.session() as session:
        row = session.execute(sa.select(ApiKey).where(ApiKey.id == key_id)).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        raise SignedOut
    return str(row.project), cookie


def csrf_token(request: Request, cookie: str) -> str:
    """The CSRF token of a session (the signature of the session under a purpose tag)."""
    return sign(request.app.state.console_secret, "csrf:" + cookie)


def check_csrf(request: Request, cookie: str, sent: str | None) -> None:
    """403 unless the form sent this session's CSRF token."""
    if not sent or not hmac.compare_digest(csrf_token(request, cookie), sent):
        raise PageError(403, "missing or wrong CSRF token: reload the page and send the form again")
