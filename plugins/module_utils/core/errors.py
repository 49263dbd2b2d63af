"""The errors of onekit's core.

Every interface maps these the same way: the CLIs print ``str(err)`` on one line and exit
with ``err.exit_code``; the REST apps answer ``err.http_status``; modules ``fail_json`` with
``msg=str(err)``. Messages name the field at fault and, where one exists, the fix.
"""

from __future__ import annotations


class OneError(Exception):
    """Base class: an operation was refused or failed, nothing was changed."""

    http_status = 500
    exit_code = 1


class InvalidInput(OneError):
    """The caller's input is malformed (a template, an ACL string, a mode, a name)."""

    http_status = 400


class TemplateSyntaxError(InvalidInput):
    """A template does not parse; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(f"syntax error at line {line}, column {column}: {message}")
        self.reason = message
        self.line = line
        self.column = column


class AuthenticationError(OneError):
    """Unknown user, wrong password, disabled account or unreadable credentials."""

    http_status = 401


class AuthorizationError(OneError):
    """The authenticated user lacks the right the operation needs."""

    http_status = 403


class NotFound(OneError):
    """The object named by id or name does not exist."""

    http_status = 404


class Conflict(OneError):
    """The operation clashes with existing state (a taken name, a group still in use)."""

    http_status = 409


class NotAllowed(OneError):
    """The action is not allowed in the object's current state (a service DONE, ...)."""

    http_status = 405


class TooManyRequests(OneError):
    """The server refuses to do this now (too many failed logins, too many at once);
    ``retry_after`` says in how many seconds to try again."""

    http_status = 429

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class StoreError(OneError):
    """The state store cannot be used: unreachable, not initialised, wrong schema version."""

    http_status = 503


class ConfigError(OneError):
    """An instance configuration file is missing or malformed."""
