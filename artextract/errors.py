"""Exceptions with messages a curator can act on.

Every error the library raises on bad input derives from :class:`ArtExtractError`; the CLI and the
app turn it into one clear line instead of a traceback.
"""

from __future__ import annotations


class ArtExtractError(Exception):
    """Base class: the message says what was wrong and what is accepted."""


class BadImageError(ArtExtractError):
    """An image that cannot be read safely (corrupt, unsupported, too large, hostile)."""


class CatalogError(ArtExtractError):
    """A catalog table that is missing, malformed or inconsistent."""


class CheckpointError(ArtExtractError):
    """A checkpoint that is missing, unsafe or does not match its card."""


class BundleError(ArtExtractError):
    """An artifact bundle that is missing, stale or built from other checkpoints."""


class OfflineError(ArtExtractError):
    """Something had to be downloaded and the network is not reachable."""


class UnknownNameError(ArtExtractError, KeyError):
    """A name (model, attribute, projection, ...) that is not one of the valid choices."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""
