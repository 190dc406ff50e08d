"""OpenAI-shaped error responses: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException


def api_error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> HTTPException:
    """An HTTPException whose body is OpenAI's error object."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return HTTPException(
        status, detail={"message": message, "type": kind, "param": param, "code": code}
    )


def not_found(kind: str, object_id: str) -> HTTPException:
    """404 for an object that does not exist or belongs to another project (indistinguishable)."""
    return api_error(404, f"No such {kind}: '{object_id}'", code=f"{kind}_not_found")


def error_body(detail: Any) -> dict[str, Any]:
    """The response body for an HTTPException's detail."""
    if isinstance(detail, dict):
        return {"error": {"param": None, "code": None, "type": "invalid_request_error", **detail}}
    return {"error": {"message": str(detail), "type": "invalid_request_error", "param": None}}
