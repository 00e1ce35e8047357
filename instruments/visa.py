"""Opening VISA instruments for the adapters, with qpclab's retry policy.

Retry policy (logged at WARNING, bounded): a query that times out, loses its connection, or gets a corrupt reply
(bytes outside printable ASCII: instruments answer in text) is sent again after a device clear (which drops stale or
half-read replies), up to ``attempts`` times; a write that loses its connection is sent again (qpclab only writes absolute settings, so
repeating one is safe). When the attempts are used up the error goes on as an
:class:`~qpclab.instruments.roles.InstrumentError` naming the instrument and the command: the procedure stops and
the gates go to their safe values.
"""

from __future__ import annotations

import logging
import re
import time

from pyvisa import constants
from pyvisa.errors import VisaIOError

from .roles import InstrumentError

__all__ = ["timeout_kwargs", "open_driver", "install_retries", "retry", "retry_after", "printable", "direct_line",
           "RETRY_ATTEMPTS", "lock_exclusive"]

log = logging.getLogger(__name__)

#: how many times a failed query or write is tried in all
RETRY_ATTEMPTS = 3
#: pause before a retry, s (a connection that drops often comes back after a moment)
RETRY_PAUSE_S = 0.05


def timeout_kwargs(options: dict) -> dict:
    """pymeasure adapter keyword for a station's ``timeout_s`` (s -> ms); empty if not given."""
    t = options.get("timeout_s")
    return {"timeout": int(t * 1000)} if t else {}


def open_driver(cls, resource: str, visa_library: str, name: str, options: dict):
    """Instantiate a pymeasure-style driver at ``resource`` and give it qpclab's retry policy."""
    driver = cls(resource, visa_library=visa_library, **timeout_kwargs(options))
    return install_retries(driver, name)


def _clear(driver) -> None:
    try:
        driver.adapter.connection.clear()
    except Exception:  # noqa: BLE001 - a clear that fails must not hide the original error
        log.debug("device clear failed", exc_info=True)


def retry(driver, name: str, what: str, call, retry_on: tuple, attempts: int = RETRY_ATTEMPTS):
    """``call()`` under the retry policy: on ``retry_on`` (a VISA error only if timeout, connection lost or I/O
    error) pause, device-clear ``driver`` and call again, up to ``attempts`` times in all; then raise
    :class:`~qpclab.instruments.roles.InstrumentError` naming ``name`` and ``what`` (the command)."""
    try:
        return call()
    except retry_on as exc:
        return retry_after(driver, name, what, call, retry_on, exc, attempts)


def retry_after(driver, name: str, what: str, call, retry_on: tuple, failure: Exception,
                attempts: int = RETRY_ATTEMPTS):
    """The rest of :func:`retry` after a first attempt (made by the caller, for the few per-point calls where
    even a wrapper's cost counts) failed with ``failure``."""
    attempt, exc = 1, failure
    while True:
        if isinstance(exc, VisaIOError) and exc.error_code not in _RETRYABLE_CODES:
            raise exc
        if attempt >= attempts:
            raise InstrumentError(f"{name}: {what} failed {attempts} times: {exc}") from exc
        log.warning("%s: %s failed (%s); retry %d of %d", name, what, exc, attempt, attempts - 1)
        time.sleep(RETRY_PAUSE_S)
        _clear(driver)
        attempt += 1
        try:
            return call()
        except retry_on as again:
            exc = again


_RETRYABLE_CODES = {constants.StatusCode.error_timeout, constants.StatusCode.error_connection_lost,
                    constants.StatusCode.error_io}


_NOT_PRINTABLE = re.compile(r"[^ -~\t\r\n]")


def printable(text: str) -> bool:
    """True if ``text`` is printable ASCII (tab, CR, LF allowed): instruments answer in text; anything else is a
    corrupt reply."""
    return _NOT_PRINTABLE.search(text) is None


def direct_line(driver):
    """What carries a driver's messages, without pymeasure's property layer: the pyvisa resource of a VISA adapter
    (its ``write(str)``/``read() -> str`` are exactly what the adapter calls), otherwise the adapter itself (e.g.
    pymeasure's ``ProtocolAdapter`` in protocol tests). For the few per-point calls where the layer's cost counts;
    callers wrap them in :func:`retry` themselves."""
    from pymeasure.adapters import VISAAdapter

    adapter = driver.adapter
    if type(adapter) is VISAAdapter:  # exactly pymeasure's: its write/read are the connection's plus a log line
        return adapter.connection
    return adapter


def install_retries(driver, name: str, attempts: int = RETRY_ATTEMPTS):
    """Wrap the driver's ``ask``, ``values`` and ``write`` (instance attributes; the class is unmodified)."""
    ask, values, write = driver.ask, driver.values, driver.write

    def retrying_ask(command, *args, **kwargs):
        def once():
            reply = ask(command, *args, **kwargs)
            if isinstance(reply, str) and not printable(reply):
                raise ValueError(f"corrupt reply {reply!r}")
            return reply

        return retry(driver, name, f"query {command!r}", once, (VisaIOError, ValueError), attempts)

    def retrying_values(command, *args, **kwargs):
        def once():
            result = values(command, *args, **kwargs)
            if any(isinstance(v, str) and not printable(v) for v in result):
                raise ValueError(f"corrupt reply {result!r}")
            return result

        return retry(driver, name, f"query {command!r}", once, (VisaIOError, ValueError), attempts)

    def retrying_write(command, *args, **kwargs):
        return retry(driver, name, f"write {command!r}", lambda: write(command, *args, **kwargs), (VisaIOError,),
                      attempts)

    driver.ask = retrying_ask
    driver.values = retrying_values
    driver.write = retrying_write
    return driver


def lock_exclusive(driver, name: str) -> bool:
    """Take VISA's exclusive lock on the driver's resource (``lock_excl``: no other VISA session, of any program,
    can talk to it until it is closed). True if taken; False, quietly, where the resource or the VISA library
    does not support locking (the simulated lab, pymeasure's protocol adapters); a lock held by another session
    raises :class:`~qpclab.instruments.roles.InstrumentError`."""
    connection = getattr(driver.adapter, "connection", None)
    lock = getattr(connection, "lock_excl", None)
    if lock is None:
        return False
    try:
        lock(timeout=0)
    except (NotImplementedError, AttributeError):
        return False
    except VisaIOError as exc:
        if exc.error_code in (constants.StatusCode.error_resource_locked, constants.StatusCode.error_timeout):
            raise InstrumentError(f"{name}: another VISA session holds an exclusive lock on "
                                  f"{connection.resource_name}; refusing to connect") from exc
        log.debug("%s: VISA exclusive lock not supported (%s)", name, exc)
        return False
    return True

