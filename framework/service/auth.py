"""API keys: Bearer tokens stored as SHA-256 hashes, each belonging to one project."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from fastapi import HTTPException, Request

from framework.service.db import ApiKey, Database, new_id, now

KEY_PREFIX = "sk-ht-"


def key_hash(key: str) -> str:
    """The stored form of a key (keys are 256 random bits: a plain hash is enough)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(db: Database, project: str) -> tuple[str, str]:
    """A new key for the project: (key id, the key itself, shown once)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = new_id("key")
    with db.session() as session:
        session.add(
            ApiKey(
                id=key_id, project=project, key_hash=key_hash(key), hint=key[-4:], created_at=now()
            )
        )
    return key_id, key


def revoke_key(db: Database, key_id: str) -> bool:
    """Revoke a key by id; whether it existed and was active."""
    with db.session() as session:
        row = session.execute(sa.select(ApiKey).where(ApiKey.id == key_id)).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = now()
        return True


def list_keys(db: Database) -> list[ApiKey]:
    """Every key (hashes only), oldest first."""
    with db.session() as session:
        return list(session.execute(sa.select(ApiKey).order_by(ApiKey.seq)).scalars())


def unauthorized(message: str) -> HTTPException:
    return HTTPException(
        401, detail={"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
    )


def project_of(request: Request) -> str:
    """The project of the request's Bearer key (FastAPI dependency); 401 without a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    db: Database = request.app.state.db
    with db.session() as session:
        row = session.execute(
            sa.select(ApiKey).where(ApiKey.key_hash == key_hash(token.strip()))
        ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        raise unauthorized("incorrect or revoked API key")
    return str(row.project)
