"""User-facing errors and warnings.

Every error a user can cause (bad file, bad shape, wrong units) is raised as a :class:`MocapError`
whose message says what went wrong, where (file, camera, frame, field) and what to do. The CLI prints
that one line and exits with code 2; the traceback is shown only with ``--debug``.
"""

from __future__ import annotations


class MocapError(Exception):
    """An error caused by the user's input or environment, with an actionable message.

    Args:
        message: what went wrong and where (file, camera, frame, field).
        hint: what to do about it; appended to the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} -> {hint}")


class CalibrationError(MocapError):
    """A calibration file or camera model is unusable."""


class KeypointsError(MocapError):
    """Keypoint data is malformed or inconsistent with the calibration."""


class DataError(MocapError):
    """An input file (video, model, dataset) is missing or unreadable."""


class MocapWarning(UserWarning):
    """Something is suspicious but usable (e.g. millimetre-scale translations)."""
