"""Simulated-lab query rate against stock pyvisa-sim answering a static reply, measured in the same run."""

from __future__ import annotations

import time

import pyvisa

from common import GATE, LOCKIN, Row, library, reset_lab


def _rate(resource, query: str, seconds: float = 1.0) -> float:
    n = 0
    for _ in range(50):  # warm up caches
        resource.query(query)
    t0 = time.perf_counter()
    while True:
        for _ in range(100):
            resource.query(query)
        n += 100
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def run(seconds: float = 1.0) -> list[Row]:
    stock = pyvisa.ResourceManager("@sim").open_resource("GPIB::8::INSTR", read_termination="\n",
                                                         write_termination="\n")
    reset_lab()
    rm = pyvisa.ResourceManager(library())
    k = rm.open_resource(GATE, read_termination="\n", write_termination="\n")
    li = rm.open_resource(LOCKIN, read_termination="\n", write_termination="\n")
    rows = []
    # interleave the measurements so that load on the shared machine hits both alike
    stock_rates, idn_rates, snap_rates = [], [], []
    for _ in range(3):
        stock_rates.append(_rate(stock, "?IDN", seconds / 3))
        idn_rates.append(_rate(k, "*IDN?", seconds / 3))
        snap_rates.append(_rate(li, "SNAP?1,2", seconds / 3))
    s, i, n = max(stock_rates), max(idn_rates), max(snap_rates)
    rows.append(Row("sim-lab query rate, static reply (K2400 *IDN?)", f"{i:,.0f} /s",
                    f"stock pyvisa-sim {s:,.0f} /s", i / s, ">= 0.6", i / s >= 0.6))
    rows.append(Row("sim-lab query rate, computed reading (SR830 SNAP?1,2)", f"{n:,.0f} /s",
                    f"stock pyvisa-sim {s:,.0f} /s", n / s, ">= 0.6", n / s >= 0.6))
    return rows


if __name__ == "__main__":
    from common import HEADER

    print(HEADER)
    for row in run():
        print(row.markdown())
