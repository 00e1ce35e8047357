"""Trigger cables between the simulated instruments (``simulation: wiring:`` in a lab file).

At the fridge a source's trigger output (Keithley 2400 Trigger Link line, Keithley 2450 digital I/O line, QDAC-II
trigger output) is cabled to another instrument's trigger input (SR830 rear TRIG IN, a QDAC-II external input), so
that one instrument's step starts or steps another. A lab file says which cables exist::

    simulation:
      wiring:
        - {from: gate_smu.tlink_out_1, to: lockin.trig_in}
        - {from: qdac.trig_out_1, to: gate_smu.tlink_in_2}

``from`` is ``<instrument>.<output>``, ``to`` is ``<instrument>.<input>``, instrument names as in ``station:
instruments:``. A source fires an output at the simulated time it steps (:meth:`TriggerWiring.fire`); every input
cabled to it gets ``on_trigger(input_name, t)`` with that time. Receivers implement :class:`TriggerInput`; sources
name their outputs in :class:`TriggerSource`. Names are checked when the lab is built, so a misspelt cable fails
with a one-line error before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["TriggerInput", "TriggerSource", "TriggerWiring", "Cable"]


@runtime_checkable
class TriggerInput(Protocol):
    """An instrument with trigger inputs: ``on_trigger`` is called at the lab time ``t`` (s) a cable fires."""

    def on_trigger(self, input_name: str, t: float) -> None: ...


@runtime_checkable
class TriggerSource(Protocol):
    """An instrument with trigger outputs, named as the lab file's ``from:`` names them."""

    def trigger_output_names(self) -> Iterable[str]: ...


@runtime_checkable
class _NamedInputs(Protocol):
    def trigger_input_names(self) -> Iterable[str]: ...


@dataclass(frozen=True)
class Cable:
    source: str       #: instrument name
    output: str       #: its output (``tlink_out_1``)
    target: str       #: instrument name
    input: str        #: its input (``trig_in``)


class TriggerWiring:
    """The trigger cables of one lab, checked against the instruments' outputs and inputs."""

    def __init__(self, spec: Any, instruments: Mapping[str, Any], path: Any = "lab file"):
        self.instruments = instruments
        self.cables: list[Cable] = []
        self._by_output: dict[tuple[str, str], list[Cable]] = {}
        if spec in (None, []):
            return
        if not isinstance(spec, list):
            raise ValueError(f"{path}: simulation.wiring must be a list of {{from: inst.output, to: inst.input}}")
        for i, item in enumerate(spec):
            where = f"{path}: simulation.wiring[{i}]"
            if not isinstance(item, dict) or set(item) != {"from", "to"}:
                raise ValueError(f"{where}: expected {{from: <instrument>.<output>, to: <instrument>.<input>}}")
            source, output = self._endpoint(item["from"], where, "from")
            target, inp = self._endpoint(item["to"], where, "to")
            src, dst = instruments[source], instruments[target]
            if not isinstance(src, TriggerSource) or output not in set(src.trigger_output_names()):
                outputs = sorted(src.trigger_output_names()) if isinstance(src, TriggerSource) else []
                raise ValueError(f"{where}: {source} has no trigger output {output!r} (outputs: {outputs or 'none'})")
            if not isinstance(dst, TriggerInput):
                raise ValueError(f"{where}: {target} has no trigger inputs")
            if isinstance(dst, _NamedInputs) and inp not in set(dst.trigger_input_names()):
                raise ValueError(f"{where}: {target} has no trigger input {inp!r} "
                                 f"(inputs: {sorted(dst.trigger_input_names())})")
            cable = Cable(source, output, target, inp)
            self.cables.append(cable)
            self._by_output.setdefault((source, output), []).append(cable)

    def _endpoint(self, text: Any, where: str, key: str) -> tuple[str, str]:
        name, dot, port = str(text).partition(".")
        if not dot or not port:
            raise ValueError(f"{where}.{key}: {text!r} is not <instrument>.<port>")
        if name not in self.instruments:
            raise ValueError(f"{where}.{key}: no instrument {name!r} in the station (have {sorted(self.instruments)})")
        return name, port

    def fire(self, source: str, output: str, t: float) -> None:
        """``source``'s trigger output ``output`` pulses at lab time ``t``: deliver it to every cabled input."""
        for cable in self._by_output.get((source, output), ()):
            self.instruments[cable.target].on_trigger(cable.input, t)
