"""The errors latentfx raises on purpose. Anything else is a bug."""

from dataclasses import dataclass


class LatentfxError(Exception):
    """Base class: a problem the user can act on, with a message that says how."""


class InputError(LatentfxError):
    """A file or value given by the user cannot be used (names it and says why)."""


class BadFile(InputError):
    """One input file cannot be used. Folder jobs catch this, record (path, reason), go on."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


class CheckpointError(InputError):
    """A model file is missing, unreadable, unsafe, or not a latentfx checkpoint."""


class Interrupted(LatentfxError):
    """The user stopped a job (Ctrl-C or cancel); the message says what was kept."""


@dataclass(frozen=True)
class Skipped:
    """An input a job left out, and why (reported at the end and in manifests)."""

    path: str
    reason: str
