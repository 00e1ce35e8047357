"""What every qpclab measurement shares: its parameters (a pymeasure ``Procedure``, the shell the window's inputs
need), the station, and the declaration of its :class:`~qpclab.procedures.plan.Plan`.

A procedure does not loop: it declares its plan (:meth:`QPCProcedure.plan`) and qpclab's one executor runs it, from
the command line (``qpclab run``), the window (``qpclab gui``) and Python (:func:`qpclab.run`). Parameters are
checked before anything opens: each against its declared range (:meth:`QPCProcedure.validate`), then against the
station (:meth:`QPCProcedure.check`), every error naming the parameter and its command-line option.
"""

from __future__ import annotations

from typing import Any, Mapping

from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter, Parameter, Procedure

from ..instruments.source_lists import BufferedRoute, NotBuffered, buffered_route
from ..instruments.station import Station, load_station
from .plan import Plan
from .readouts import SLOPES_DB, LockInSettings

__all__ = ["QPCProcedure", "LockInProcedure", "ParameterError", "option_name"]


def option_name(attr: str) -> str:
    """The command-line option of a parameter: ``time_constant`` -> ``--time-constant``."""
    return "--" + attr.replace("_", "-")


class ParameterError(ValueError):
    """A parameter value the procedure cannot take: names the parameter (its option) and what is wrong."""

    def __init__(self, attr: str, value: Any, problem: str):
        self.attr, self.value, self.problem = attr, value, problem
        super().__init__(f"{option_name(attr)} {value!r}: {problem}")


def _range_text(param: Parameter) -> str:
    """"allowed 1e-05 to 30000 s" for a number parameter, "" for the others."""
    if not isinstance(param, (FloatParameter, IntegerParameter)):
        return ""
    units = f" {param.units}" if param.units else ""
    return f"allowed {param.minimum:g} to {param.maximum:g}{units}"


class QPCProcedure(Procedure):
    """Base of the qpclab procedures. ``station_file`` empty means the packaged simulated station."""

    @classmethod
    def parameter_order(cls) -> list[str]:
        """The parameters in the order a person reads them: the procedure's own (as declared), then what it shares
        with others (lock-in settings), the station file last (pymeasure lists them alphabetically). A parameter
        a subclass declares again (another default) keeps the place of the declaration it overrides."""
        declared = [[a for a, v in vars(klass).items() if isinstance(v, Parameter)] for klass in cls.__mro__]
        order: list[str] = []
        for k, names in enumerate(declared):
            order += [a for a in names if a not in order and not any(a in later for later in declared[k + 1:])]
        return order

    station_file = Parameter("Station file", default="")

    #: how the writer formats columns (others: the shortest repr of the float, as pymeasure writes)
    COLUMN_FORMATS: Mapping[str, str] = {}

    # ---- parameters -------------------------------------------------------------------------------------------
    def set_values(self, **values: Any) -> None:
        """Set parameters by attribute name, each through its declared type and range (ParameterError naming it)."""
        params = self.parameter_objects()
        for attr, value in values.items():
            if attr not in params:
                known = ", ".join(a for a in params if a != "station_file")
                raise ParameterError(attr, value, f"{type(self).__name__} has no such parameter; it has {known}")
            self._set_one(params[attr], attr, value)

    def _set_one(self, param, attr: str, value: Any) -> None:
        try:
            param.value = value
        except (ValueError, TypeError) as exc:
            extra = _range_text(param)
            raise ParameterError(attr, value, f"{exc}" + (f" ({extra})" if extra else "")) from None
        setattr(self, attr, param.value)

    def validate(self) -> None:
        """Every parameter's present value against its declared type and range."""
        for attr, param in self._parameters.items():
            self._set_one(param, attr, getattr(self, attr))

    def parameter_record(self) -> dict[str, Any]:
        """The parameters as JSON-ready values (exact: floats keep every digit)."""
        self.validate()
        return {attr: getattr(self, attr) for attr in self._parameters}

    # ---- the measurement --------------------------------------------------------------------------------------
    def load_station(self) -> Station:
        return load_station(self.station_file or None)

    def check(self, station: Station) -> None:
        """Procedure-specific checks against the station before anything opens (override and call super)."""

    def plan(self, station: Station) -> Plan:
        """The measurement as data (see :mod:`qpclab.procedures.plan`)."""
        raise NotImplementedError

    def startup(self):
        raise RuntimeError(f"{type(self).__name__} runs through qpclab's executor: qpclab.run(), `qpclab run` or "
                           "`qpclab gui`, not through pymeasure's Worker")


class LockInProcedure(QPCProcedure):
    """A procedure that reads the conductance with the station's lock-in (and sets it up first)."""

    #: the conductances are computed from X, which carries 7 significant digits: 12 keep all of them
    COLUMN_FORMATS = {"G (S)": "%.12g", "G/G0": "%.12g"}

    time_constant = FloatParameter("Lock-in time constant", units="s", default=0.001, minimum=1e-5, maximum=3e4)
    filter_slope = IntegerParameter("Lock-in filter slope", units="dB/oct", default=24, minimum=6, maximum=24)
    excitation = FloatParameter("Lock-in sine output", units="V", default=0.1, minimum=0.004, maximum=5.0)
    sensitivity = FloatParameter("Lock-in sensitivity", units="V", default=0.5, minimum=2e-9, maximum=1.0)
    settle_tolerance = FloatParameter("Settle to within (fraction of each step)", default=1e-3, minimum=1e-9,
                                      maximum=0.5)

    def lockin_settings(self) -> LockInSettings:
        if self.filter_slope not in SLOPES_DB:
            raise ParameterError("filter_slope", self.filter_slope, "the filter slope is one of 6, 12, 18, 24 dB/oct")
        return LockInSettings(self.time_constant, self.filter_slope, self.excitation, self.sensitivity,
                              self.settle_tolerance)

    def check(self, station: Station) -> None:
        super().check(station)
        self.lockin_settings()
        if station.lockin is None:
            raise ValueError("the station has no lock-in (station.lockin)")


#: how a gate sweep's lines run: point by point, as a hardware-timed source list read from the lock-in's buffer,
#: or buffered where the station's instruments and trigger cables allow it (:mod:`qpclab.procedures.buffered`)
SWEEP_MODES = ("stepped", "buffered", "auto")


class GateSweepProcedure(LockInProcedure):
    """A lock-in procedure whose fast axis is a gate: its lines run stepped or buffered (``mode``)."""

    mode = ListParameter("Sweep mode (buffered - the gate's source list, one lock-in buffer read per line; auto - "
                         "buffered where the station allows it)", choices=list(SWEEP_MODES), default="stepped")

    def sweep_route(self, station: Station, gate: str, points: int) -> BufferedRoute | None:
        """The buffered route of ``gate``'s lines of ``points`` points (None: stepped). ``buffered`` refuses a
        station that cannot (the reason, one line, before anything opens); ``auto`` falls back to stepped and says
        why in :attr:`mode_note`."""
        if self.mode == "stepped":
            self.mode_note = "stepped"
            return None
        try:
            route = buffered_route(station, gate, points)
        except NotBuffered as exc:
            if self.mode == "buffered":
                raise ParameterError("mode", self.mode, str(exc)) from None
            self.mode_note = f"stepped (auto: {exc})"
            return None
        self.mode_note = (f"buffered ({route.source} list on {gate}, trig_out_{route.output} -> "
                          f"{route.lockin}.trig_in)")
        return route

    #: after :meth:`sweep_route`: how the lines run, and why (one line for the terminal)
    mode_note = ""

    def check(self, station: Station) -> None:
        super().check(station)
        if self.mode == "buffered":  # refused in one line before anything opens
            self.sweep_route(station, self.gate, self.line_points())

    def line_points(self) -> int:
        """Points in one line of the fast gate."""
        raise NotImplementedError


def check_value(axis, attr: str, value: float) -> None:
    """``axis.check(value)`` with the parameter's option named in the error."""
    try:
        axis.check(value)
    except ValueError as exc:
        raise ParameterError(attr, value, str(exc)) from None
