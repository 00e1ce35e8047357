"""Replies that are binary transfers.

A twin returns its replies as text; the backend sends each with the instrument's response terminator. A binary
transfer (the SR830's ``TRCB?``/``TRCL?``, the SR86x's ``CAPTUREGET?`` block) goes out as it is: the instrument
marks its last byte with END (EOI) and adds no terminator, so a client reading exactly the block, or reading to
END, sees no stray line feed. The bytes travel as latin-1 text (one character per byte).
"""

from __future__ import annotations

__all__ = ["BinaryReply"]


class BinaryReply(str):
    """A reply sent without the response terminator (its characters are the bytes, latin-1)."""
