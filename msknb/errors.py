"""Errors that msknb raises on bad input.

Every error a user can cause is an :class:`MsknbError` whose message names the file
(or parameter) and the problem. The command line prints it without a traceback and
exits with status 2.
"""
from __future__ import annotations

from pathlib import Path


class MsknbError(Exception):
    """A user-facing error: bad input file, bad parameter, unwritable output.

    ``path`` (optional) is the file or folder concerned; it is prefixed to the message.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        self.problem = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class DataError(MsknbError):
    """An input image, mask, DICOM or folder cannot be used."""


class SpacingError(DataError):
    """No pixel spacing (mm per pixel) can be found; pass one by hand."""


class ThicknessError(MsknbError):
    """Muscle thickness cannot be measured from a mask (e.g. < 2 aponeuroses)."""


class ConfigError(MsknbError):
    """Unknown profile or parameter, or a value out of range."""


class CheckpointError(MsknbError):
    """A checkpoint is unreadable, unsafe, or from a different architecture."""


class TrainingError(MsknbError):
    """Training cannot go on (e.g. the loss became NaN)."""


class SplitError(DataError):
    """A split file (``{"train", "val", "test"}`` id lists) is missing, unreadable or lacks a part."""


class ResultsError(MsknbError):
    """A notebook's ``results/<notebook>.json`` is unreadable."""


class RunIndexError(MsknbError):
    """The runner's ``index.json`` is unreadable."""


class StoredResultError(CheckpointError):
    """A benchmark's result stored under ``msknb/checkpoints/`` is missing or garbled; the
    message names the command that writes it."""
