"""The Hall-bar lab: two SR830 lock-ins read V_xx and V_xy of a GaAs Hall bar while an AMI 430 sweeps the
perpendicular field, all through the station's roles (connect) against the simulated lab.

Expectations: von Klitzing's plateaus R_xy = h / (nu e^2) at the fields where the filling factor n h / (e B) is an
integer (n from the sample preset), with R_xx -> 0 there; between plateaus R_xx is finite (Shubnikov-de Haas).
"""

import pytest

from qpclab.analysis.constants import E, H
from qpclab.instruments.connect import connect
from qpclab.instruments.station import load_station

from conftest import SIM_CONFIGS
from conftest import ManualClock

R_K = H / E**2  # von Klitzing constant, ohm
DENSITY_M2 = 2.0e15  # the gaas_hall_bar preset


@pytest.fixture
def lab_path():
    return SIM_CONFIGS / "hall_lab.yaml"


@pytest.fixture
def clock(sim_lab):
    c = ManualClock()
    sim_lab.clock = c
    sim_lab.reset()
    yield c


@pytest.fixture
def hall(sim_lab, lab_path, clock):
    station = load_station(lab_path)
    assert station.gates == {} and station.bias is None  # a Hall bar needs no gates
    lab = connect(station)
    lab.magnet.configure(station.magnet.limits_T, station.magnet.rate_T_per_s)
    lab.thermometer.configure(station.thermometer.channel, station.thermometer.limits_K)
    for li, sens in ((lab.lockins["xx"], 0.1), (lab.lockins["xy"], 0.5)):
        li.excitation_V = 1.0  # 100 nA through the 10 MOhm current resistor
        li.sensitivity = sens
        li.time_constant = 0.1
        li.filter_slope = 24
    yield lab
    lab.close()


def field_for(nu):
    return DENSITY_M2 * H / (E * nu)


def go_to(lab, clock, field_T):
    lab.magnet.ramp_to(field_T)
    waited = 0.0
    while not lab.magnet.is_holding():
        clock.advance(5.0)
        waited += 5.0
        assert waited < 3000.0
    clock.advance(2.0)  # 20 lock-in time constants after the field stopped


def resistances(lab, circuit):
    x_xx, _ = lab.lockins["xx"].read_xy()
    x_xy, _ = lab.lockins["xy"].read_xy()
    return (circuit.hall_resistance_ohm(x_xx, lab.lockins["xx"].excitation_V),
            circuit.hall_resistance_ohm(x_xy, lab.lockins["xy"].excitation_V))


def test_quantum_hall_plateaus_through_two_lockins(sim_lab, hall, clock):
    circuit = sim_lab.circuit
    assert hall.thermometer.read_temperature() < 0.02  # at base
    for nu in (4, 2, 1):
        b = field_for(nu)
        go_to(hall, clock, b)
        assert hall.magnet.read_field() == pytest.approx(b, abs=1e-4)  # %g: 6 digits sent
        r_xx, r_xy = resistances(hall, circuit)
        assert r_xy == pytest.approx(R_K / nu, rel=1e-3), f"nu = {nu}"
        assert abs(r_xx) < 1e-4 * R_K / nu, f"R_xx = {r_xx} ohm on the nu = {nu} plateau"


def test_between_plateaus_rxx_is_finite_and_rxy_is_not_quantised(sim_lab, hall, clock):
    circuit = sim_lab.circuit
    go_to(hall, clock, field_for(3))  # nu = 3: the spin gap is not resolved at 2.8 T with bulk g: a riser
    r_xx, r_xy = resistances(hall, circuit)
    assert r_xx > 100.0
    assert R_K / 4 * 1.01 < r_xy < R_K / 2 * 0.99
    # reversing the field reverses the Hall voltage, R_xx is even
    go_to(hall, clock, -field_for(2))
    r_xx, r_xy = resistances(hall, circuit)
    assert r_xy == pytest.approx(-R_K / 2, rel=1e-3)
    assert abs(r_xx) < 1.0


def test_warming_the_fridge_destroys_the_plateau(sim_lab, hall, clock):
    circuit = sim_lab.circuit
    b = 0.5 * (field_for(2) + field_for(3))  # the plateau's edge towards nu = 3
    go_to(hall, clock, b)
    cold_xx, cold_xy = resistances(hall, circuit)
    hall.thermometer.set_setpoint(1.5)
    clock.advance(20 * 30.0)
    assert hall.thermometer.read_temperature() == pytest.approx(1.5, rel=0.01)
    clock.advance(2.0)  # let the lock-ins settle (the lab brings its temperature up to date when read)
    warm_xx, warm_xy = resistances(hall, circuit)
    assert cold_xx < 2.0 and warm_xx > 50 * cold_xx  # thermally activated R_xx
    assert abs(warm_xy - R_K / 2) > 100 * abs(cold_xy - R_K / 2)
