"""Shared fixtures. Qt runs offscreen with PyQt6; every test that touches the simulated lab fails if an unknown
command reached it."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyqt6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt6")
# instrument lock files of this test session (and of the runs it starts) in a folder of its own
import tempfile  # noqa: E402

os.environ.setdefault("QPCLAB_LOCK_DIR", tempfile.mkdtemp(prefix="qpclab-test-locks-"))

from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIM_CONFIGS = ROOT / "sim_configs"


class ManualClock:
    """A clock for the simulated lab that moves only when a test advances it (seconds)."""

    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, dt):
        self.t += dt


class SteppingClock(ManualClock):
    """A clock that moves ``step`` seconds each time it is read: for drivers that poll until a buffer fills
    (QCoDeS's wait_until_samples_captured, pymeasure's buffer_measure)."""

    def __init__(self, step: float, t: float = 1000.0):
        super().__init__(t)
        self.step = step

    def __call__(self):
        self.t += self.step
        return self.t


@pytest.fixture
def lab_path() -> Path:
    """The default simulated lab file, as installed (the same file the procedures use by default)."""
    from qpclab.instruments.station import default_station_path

    return default_station_path()


@pytest.fixture
def sim_library(lab_path):
    """The simulated lab's pyvisa library, reset to a fresh state; fails the test on any unknown command."""
    from qpclab.instruments.sim.backend import SimVisaLibrary

    lib = SimVisaLibrary(str(lab_path))
    lib.reset()
    yield lib
    lib.lab.assert_no_unknown_commands()
    lib.reset()


@pytest.fixture
def sim_lab(sim_library):
    return sim_library.lab


@pytest.fixture
def clock(sim_lab):
    """The simulated lab on a ManualClock (twins reset to take it), back on the real clock afterwards.
    Test files with other needs define their own ``clock``."""
    import time

    c = ManualClock()
    sim_lab.clock = c
    sim_lab.reset()
    yield c
    sim_lab.clock = time.monotonic
    sim_lab.reset()


@pytest.fixture
def visa_library(sim_library) -> str:
    """The library string for pymeasure / pyvisa / QCoDeS."""
    return f"{sim_library.library_path}@qpcsim"


@contextmanager
def manual_clock_lab(path):
    """(lab, clock, VISA library string) of the lab file ``path``, reset, on a ManualClock; fails on unknown
    commands; back on the real clock and reset afterwards."""
    import time

    from qpclab.instruments.sim.backend import SimVisaLibrary

    lib = SimVisaLibrary(str(path))
    lab = lib.lab
    clock = ManualClock()
    lab.clock = clock
    lib.reset()
    try:
        yield lab, clock, f"{lib.library_path}@qpcsim"
        lab.assert_no_unknown_commands()
    finally:
        lab.clock = time.monotonic
        lib.reset()

@pytest.fixture(autouse=True, scope="session")
def private_catalogue(tmp_path_factory):
    """Runs made by the tests go to a temporary catalogue, never to the user's ~/.local/share/qpclab."""
    old = os.environ.get("QPCLAB_CATALOGUE")
    os.environ["QPCLAB_CATALOGUE"] = str(tmp_path_factory.mktemp("catalogue") / "runs.sqlite")
    yield
    if old is None:
        os.environ.pop("QPCLAB_CATALOGUE", None)
    else:
        os.environ["QPCLAB_CATALOGUE"] = old


@pytest.fixture(scope="session")
def qapp():
    """The Qt application (offscreen) for the window tests."""
    from pymeasure.display.Qt import QtWidgets

    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def wait_until(app, condition, timeout_s: float = 60.0) -> None:
    """Process Qt events until ``condition()`` holds (TimeoutError after ``timeout_s``)."""
    import time

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return
        time.sleep(0.01)
    raise TimeoutError(f"not done after {timeout_s} s")
