"""The simulated instruments. Importing this package registers every twin under its model name."""

from . import keithley2400, sr830  # noqa: F401
