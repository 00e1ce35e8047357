"""Faults injected into the simulated lab, by configuration: the night at the fridge, on demand.

A lab file's ``simulation.faults`` is a list; each entry names an instrument (the station's name for it), a kind,
and when it strikes::

    simulation:
      faults:
        - {instrument: lockin, kind: timeout, after: 40, count: 2, match: "SNAP"}
        - {instrument: gate_smu, kind: disconnect, after: 100, count: -1}      # never comes back
        - {instrument: lockin, kind: overload, after: 60, count: 3, spike_V: 2.0}
        - {instrument: gate_smu, kind: compliance, after: 80, load_ohm: 1.0e5}  # gate leakage from then on
        - {instrument: lockin, kind: error, after: 30, code: -350, message: "Queue overflow"}

``after``: messages to that instrument (matching ``match`` if given) before the fault starts; ``count``: how
many messages it affects (-1: all from then on). Kinds:

- ``timeout``: the reply to a query is lost: the client waits its VISA timeout;
- ``garbage``: the reply is replaced by unparseable bytes;
- ``truncated``: the reply breaks off after its first half, without terminator or END: the client times out;
- ``disconnect``: reads and writes fail with VI_ERROR_CONN_LOST (``count`` messages, or for ever with -1);
- ``error``: an entry in the instrument's error queue (``code``, ``message``) after the message runs;
- ``overload``: a pickup spike of ``spike_V`` (V rms, default 2 V: beyond every full scale) on the lock-in's input
  for ``count`` messages;
- ``compliance``: the load the source drives drops to ``load_ohm`` (gate leakage) from then on;
- ``warm_up``: the mixing chamber (a Lake Shore 372) jumps to ``peak_K`` (default 0.5 K: a helium transfer, a
  heat pulse) and relaxes back with the fridge's thermal time constant;
- ``quench``: the magnet (an AMI 430) quenches: STATE 7, field and current collapse; with ``reramp_after_s`` the
  operator resets it that much later and the supply ramps back to its target;
- ``unlock``: the lock-in (an SR830) loses its reference for ``seconds`` (default 1 s): LIA status bit 3.

Every fault that struck is recorded in :attr:`FaultInjector.log` (time, instrument, kind, message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fault", "FaultInjector", "KINDS"]

#: faults that change an instrument's state once (a method of its twin), not its messages
_STATE_FAULTS = ("warm_up", "quench", "unlock")

KINDS = ("timeout", "garbage", "truncated", "disconnect", "error", "overload", "compliance", "warm_up", "quench",
         "unlock")


@dataclass
class Fault:
    instrument: str
    kind: str
    after: int = 0
    count: int = 1
    match: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seen: int = 0  #: matching messages so far
    struck: int = 0  #: messages affected so far

    def active(self) -> bool:
        """Called once per matching message: does the fault act on it?"""
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.count >= 0 and self.struck >= self.count:
            return False
        self.struck += 1
        return True


def parse_faults(raw: Any, where: str = "simulation.faults") -> list[Fault]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{where}: expected a list of faults")
    faults = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"{where}[{i}]: expected a mapping")
        d = dict(item)
        try:
            inst = str(d.pop("instrument"))
            kind = str(d.pop("kind"))
        except KeyError as exc:
            raise ValueError(f"{where}[{i}]: missing {exc.args[0]!r}") from None
        if kind not in KINDS:
            raise ValueError(f"{where}[{i}].kind: {kind!r} is not one of {KINDS}")
        faults.append(Fault(inst, kind, int(d.pop("after", 0)), int(d.pop("count", 1)), d.pop("match", None), d))
    return faults


class FaultInjector:
    """Applies the configured faults to the messages of one lab."""

    def __init__(self, lab, faults: list[Fault]):
        self.lab = lab
        self.faults = faults
        self.log: list[tuple[float, str, str, str]] = []
        self._overloads: dict[str, int] = {}  # lock-in name -> messages left with the factor applied

    def for_instrument(self, name: str) -> list[Fault]:
        return [f for f in self.faults if f.instrument == name]

    def before(self, name: str, message: str) -> list[Fault]:
        """The faults acting on this message (disconnect raises here, before the instrument sees it)."""
        acting = []
        left = self._overloads.get(name)
        if left is not None:
            if left <= 0:
                self._overloads.pop(name)
                self.lab.set_input_spike(name, 0.0)
            else:
                self._overloads[name] = left - 1
        for f in self.for_instrument(name):
            if f.match is not None and f.match.upper() not in message.upper():
                continue
            if not f.active():
                continue
            self.log.append((self.lab.now(), name, f.kind, message))
            acting.append(f)
            if f.kind == "overload":
                self._overloads[name] = max(0, f.count - 1) if f.count >= 0 else 10**12
                self.lab.set_input_spike(name, float(f.params.get("spike_V", 2.0)))
                f.struck = f.count if f.count >= 0 else f.struck  # the window above counts the messages
            elif f.kind == "compliance":
                self.lab.loads_ohm[name] = float(f.params.get("load_ohm", 1.0e5))
                f.count = 0  # once: the leak stays
            elif f.kind in _STATE_FAULTS:
                self._strike_state(name, f)
        return acting

    def _strike_state(self, name: str, f: Fault) -> None:
        """A fault that changes the instrument's state (not the message): once."""
        twin = self.lab.twins_by_name[name]
        if f.kind == "warm_up":
            twin.heat_pulse(float(f.params.get("peak_K", 0.5)))
        elif f.kind == "quench":
            after = f.params.get("reramp_after_s")
            twin.quench(None if after is None else float(after))
        else:
            twin.unlock_reference(float(f.params.get("seconds", 1.0)))
        f.count = 0

    @staticmethod
    def mangle(reply: str, faults: list[Fault]) -> str | None:
        """Apply reply faults: None = lost reply."""
        for f in faults:
            if f.kind == "timeout":
                return None
            if f.kind == "garbage":
                reply = "\x15#\x7f%garbage\x00"[: max(4, len(reply))]
            elif f.kind == "truncated":
                reply = reply[: max(1, len(reply) // 2)]
        return reply
