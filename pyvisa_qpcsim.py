"""pyvisa backend entry point for the qpclab simulated lab.

pyvisa resolves ``ResourceManager("path/to/lab.yaml@qpcsim")`` by importing this module and using
its ``WRAPPER_CLASS``. The implementation lives in :mod:`qpclab.instruments.sim.backend`.
"""

from qpclab.instruments.sim.backend import SimVisaLibrary as WRAPPER_CLASS

__all__ = ["WRAPPER_CLASS"]
