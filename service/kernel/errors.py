"""Domain errors. The web layer maps each to a response in one place."""

from __future__ import annotations

from service.kernel.i18n import Message


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, message: Message | str) -> None:
        self.message = message if isinstance(message, Message) else Message(message)
        super().__init__(str(self.message))


class NotFound(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class Conflict(DomainError):
    """The object is not in a state that allows the action (e.g. already decided)."""


class InvalidInput(DomainError):
    """Input that fails a domain check: a message per form field."""

    def __init__(self, errors: dict[str, Message]) -> None:
        self.errors = errors
        super().__init__(Message("; ".join(f"{k}: {v}" for k, v in errors.items())))
