"""Errors of the notifications domain."""

from __future__ import annotations

from carematch.core.errors import CareMatchError, InvalidInput, NotFound


class UnknownTemplate(InvalidInput):
    """A message names a template key that templates.yaml does not define."""

    type = "/problems/unknown-template"
    title = "Unknown message template"


class InvalidParams(InvalidInput):
    """A message's parameters do not fit its template (missing, unexpected or not scalars)."""

    type = "/problems/invalid-template-params"
    title = "Invalid template parameters"


class UnknownChannel(InvalidInput):
    """A message names a channel the platform has no adapter for."""

    type = "/problems/unknown-channel"
    title = "Unknown notification channel"


class InvalidRecipient(InvalidInput):
    """A recipient that is neither a person nor a user id."""

    type = "/problems/invalid-recipient"
    title = "Invalid recipient"


class TemplateFileError(CareMatchError):
    """The shipped templates file is broken: a deployment fault, not the caller's."""

    status = 500
    type = "/problems/invalid-template-file"
    title = "Invalid message templates file"


class InboxItemNotFound(NotFound):
    """No such inbox item for the signed-in user (another user's item is not found either)."""

    type = "/problems/inbox-item-not-found"
    title = "Inbox item not found"


class ChannelError(Exception):
    """A channel could not deliver now (gateway down, timeout): the worker retries later."""


class PermanentChannelError(ChannelError):
    """A channel can never deliver this message (no such recipient): retrying is pointless."""
