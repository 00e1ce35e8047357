"""Small helpers shared by the adapters for opening VISA instruments."""

from __future__ import annotations

__all__ = ["timeout_kwargs"]


def timeout_kwargs(options: dict) -> dict:
    """pymeasure adapter keyword for a station's ``timeout_s`` (s -> ms); empty if not given."""
    t = options.get("timeout_s")
    return {"timeout": int(t * 1000)} if t else {}
