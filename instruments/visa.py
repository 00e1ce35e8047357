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
import time

from pyvisa import constants
from pyvisa.errors import VisaIOError

__all__ = ["timeout_kwargs", "open_driver", "install_retries", "RETRY_ATTEMPTS"]

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


def _retry(driver, name: str, what: str, call, retry_on: tuple, attempts: int):
    from .roles import InstrumentError

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except retry_on as exc:
            if isinstance(exc, VisaIOError) and exc.error_code not in _RETRYABLE_CODES:
                raise
            if attempt == attempts:
                raise InstrumentError(f"{name}: {what} failed {attempts} times: {exc}") from exc
            log.warning("%s: %s failed (%s); retry %d of %d", name, what, exc, attempt, attempts - 1)
            time.sleep(RETRY_PAUSE_S)
            _clear(driver)


_RETRYABLE_CODES = {constants.StatusCode.error_timeout, constants.StatusCode.error_connection_lost,
                    constants.StatusCode.error_io}


def _printable(text: str) -> bool:
    return all(" " <= ch <= "~" or ch in "\t\r\n" for ch in text)


def install_retries(driver, name: str, attempts: int = RETRY_ATTEMPTS):
    """Wrap the driver's ``ask``, ``values`` and ``write`` (instance attributes; the class is unmodified)."""
    ask, values, write = driver.ask, driver.values, driver.write

    def retrying_ask(command, *args, **kwargs):
        def once():
            reply = ask(command, *args, **kwargs)
            if isinstance(reply, str) and not _printable(reply):
                raise ValueError(f"corrupt reply {reply!r}")
            return reply

        return _retry(driver, name, f"query {command!r}", once, (VisaIOError, ValueError), attempts)

    def retrying_values(command, *args, **kwargs):
        def once():
            result = values(command, *args, **kwargs)
            if any(isinstance(v, str) and not _printable(v) for v in result):
                raise ValueError(f"corrupt reply {result!r}")
            return result

        return _retry(driver, name, f"query {command!r}", once, (VisaIOError, ValueError), attempts)

    def retrying_write(command, *args, **kwargs):
        return _retry(driver, name, f"write {command!r}", lambda: write(command, *args, **kwargs), (VisaIOError,),
                      attempts)

    driver.ask = retrying_ask
    driver.values = retrying_values
    driver.write = retrying_write
    return driver
