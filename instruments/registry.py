"""Which driver name in a station file means which role, which adapter and which simulated twin.

One table: the station loader checks driver names against it, :func:`~qpclab.instruments.connect.connect` builds
adapters from it, and the simulated lab picks each instrument's twin from it. Adapters and twins are named as
``"module:attribute"`` and imported only when used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

__all__ = ["DriverInfo", "DRIVERS", "driver_info", "adapter_factory", "twin_class", "source_resolution",
           "identity_matches"]


@dataclass(frozen=True)
class DriverInfo:
    role: str  #: "source", "lockin", "noise_analyser", "magnet" or "thermometer"
    adapter: str  #: "qpclab.instruments.<module>:<factory>"
    twin: str  #: "qpclab.instruments.sim.twins.<module>:<class>"
    description: str = ""
    #: what the instrument's ``*IDN?`` reply must contain (manufacturer and model, any of these, case-insensitive)
    models: tuple[str, ...] = ()
    #: sources: "module:function" giving the resolution (V) at a level, ``f(volts, **options) -> V``
    resolution: str = ""


_I = "qpclab.instruments"
_T = "qpclab.instruments.sim.twins"

DRIVERS: dict[str, DriverInfo] = {
    # gate and bias sources
    "keithley2400": DriverInfo("source", f"{_I}.sources:make_keithley2400", f"{_T}.keithley2400:Keithley2400Twin",
                               "Keithley 2400 SourceMeter (pymeasure Keithley2400)", ("MODEL 2400",),
                               f"{_I}.sources:keithley_resolution"),
    "keithley2450": DriverInfo("source", f"{_I}.sources:make_keithley2450", f"{_T}.keithley2450:Keithley2450Twin",
                               "Keithley 2450 SourceMeter (pymeasure Keithley2450)", ("MODEL 2450",),
                               f"{_I}.sources:keithley2450_resolution"),
    "yokogawags200": DriverInfo("source", f"{_I}.sources:make_yokogawags200", f"{_T}.yokogawags200:YokogawaGS200Twin",
                                "Yokogawa GS200 DC source (pymeasure YokogawaGS200)", ("YOKOGAWA,GS2",),
                                f"{_I}.sources:gs200_resolution"),
    "qdac2": DriverInfo("source", f"{_I}.sources:make_qdac2", f"{_T}.qdac2:QDac2Twin",
                        "QDevil QDAC-II 24-channel DAC (qpclab driver)", ("QDAC-II",), f"{_I}.sources:qdac2_resolution"),
    # lock-ins
    "sr830": DriverInfo("lockin", f"{_I}.lockins:make_sr830", f"{_T}.sr830:SR830Twin",
                        "Stanford Research SR830 (pymeasure SR830)", ("SR830",)),
    "sr860": DriverInfo("lockin", f"{_I}.lockins:make_sr860", f"{_T}.sr860:SR860Twin",
                        "Stanford Research SR860 (pymeasure SR860)", ("SR860",)),
    "sr865": DriverInfo("lockin", f"{_I}.lockins:make_sr865", f"{_T}.sr860:SR865Twin",
                        "Stanford Research SR865/SR865A (qpclab driver: 4 MHz range)", ("SR865",)),
    # noise analysers
    "sr785": DriverInfo("noise_analyser", f"{_I}.noise_analysers:make_sr785", f"{_T}.sr785:SR785Twin",
                        "Stanford Research SR785 dynamic signal analyser (qpclab driver)", ("SR785",)),
    "keysight_xsa": DriverInfo("noise_analyser", f"{_I}.noise_analysers:make_keysight_xsa",
                               f"{_T}.keysight_xsa:KeysightXSATwin",
                               "Keysight X-series signal analyser N9010A/N9020A (qpclab driver)",
                               ("N9010", "N9020", "N9030", "N9000")),
    # magnet and thermometry
    "ami430": DriverInfo("magnet", f"{_I}.magnets:make_ami430", f"{_T}.ami430:AMI430Twin",
                         "American Magnetics 430 magnet power supply programmer (pymeasure AMI430)", ("MODEL 430",)),
    "lakeshore372": DriverInfo("thermometer", f"{_I}.thermometry:make_lakeshore372",
                               f"{_T}.lakeshore372:LakeShore372Twin",
                               "Lake Shore 372 AC resistance bridge and temperature controller (qpclab driver)",
                               ("MODEL372",)),
}


def driver_info(name: str) -> DriverInfo:
    try:
        return DRIVERS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown driver {name!r}; known drivers: {sorted(DRIVERS)}") from None


def _load(ref: str):
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def adapter_factory(name: str) -> Callable:
    """The factory ``f(resource, visa_library, name, **options)`` that builds the role adapter for a driver."""
    return _load(driver_info(name).adapter)


def twin_class(name: str):
    """The simulated twin class for a driver name."""
    return _load(driver_info(name).twin)


def source_resolution(name: str, options: dict | None = None) -> Callable[[float], float] | None:
    """For a source driver: ``f(volts) -> V``, the smallest change it can make near ``volts`` with the station's
    ``options`` (e.g. the GS200's fixed ``range_V``); None for other roles."""
    ref = driver_info(name).resolution
    if not ref:
        return None
    fn = _load(ref)
    kwargs = {k: v for k, v in (options or {}).items() if k == "range_V"}
    return lambda volts: fn(volts, **kwargs)


def identity_matches(name: str, idn: str) -> bool:
    """True if an ``*IDN?`` reply names a model the driver ``name`` speaks to (or the driver lists none)."""
    models = driver_info(name).models
    text = " ".join(idn.upper().split())
    return not models or any(m.upper() in text.replace(" ,", ",") for m in models)
