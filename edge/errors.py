"""The edge agent's exception tree."""

from __future__ import annotations


class EdgeError(Exception):
    """Root of every error the edge agent raises."""


class ConfigError(EdgeError):
    """The configuration file is missing or invalid; the message names the file and the field."""


class StoreError(EdgeError):
    """The local log store cannot do what was asked."""


class StoreCorruptError(StoreError):
    """The store failed its start-up checks: a corrupt page, a broken chain, a checkpoint that does not match.

    The agent refuses to start rather than rewrite anything; ``recovery`` says what an operator can do.
    """

    def __init__(self, message: str, recovery: str) -> None:
        super().__init__(message)
        self.recovery = recovery


class StoreFullError(StoreError):
    """The disk is full: the append could not be made durable. Nothing already stored is touched."""
