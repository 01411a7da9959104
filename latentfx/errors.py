"""The errors latentfx raises on purpose. Anything else is a bug."""


class LatentfxError(Exception):
    """Base class: a problem the user can act on, with a message that says how."""


class InputError(LatentfxError):
    """A file or value given by the user cannot be used (names it and says why)."""


class CheckpointError(InputError):
    """A model file is missing, unreadable, unsafe, or not a latentfx checkpoint."""


class Interrupted(LatentfxError):
    """The user stopped a job (Ctrl-C or cancel); the message says what was kept."""
