"""User-facing errors: a clear one-paragraph message and exit code 2, never a traceback."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable

USER_ERROR_EXIT_CODE = 2


class UserError(Exception):
    """A mistake in the user's config, overrides, data or plugins (exit code 2)."""


class PluginError(UserError):
    """A plugin failed to import or registered an invalid or duplicate method."""


class RunAborted(UserError):
    """A run stopped on purpose with a clear reason (non-finite loss, disk full)."""


def did_you_mean(value: str, allowed: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest allowed value, or ''."""
    matches = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1, cutoff=0.5)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def allowed_list(allowed: Iterable[str]) -> str:
    """Render allowed values as a sorted, comma-separated list."""
    return ", ".join(sorted(str(a) for a in allowed))


def exit_with(error: BaseException) -> None:
    """Print a user error to stderr and exit with code 2."""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(USER_ERROR_EXIT_CODE)
