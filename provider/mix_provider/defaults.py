"""The defaults and bounds of a Mix connection, in one place.

The client's settings (:class:`~mix_provider.client.ClientConfig`,
:class:`~mix_provider.client.RetryPolicy`), the hook's connection parser and the connection form's
field schema (``CONN_FIELDS`` in :mod:`mix_provider.get_provider_info`) all read them. This module
imports nothing, so provider discovery stays cheap. Whole seconds are ints, so the form shows ``30``.
"""

from __future__ import annotations

#: Read timeout of each request, in seconds (``extra.timeout``).
TIMEOUT: float = 30
#: The smallest ``extra.timeout`` a connection may set, in seconds.
MIN_TIMEOUT = 0.1
#: Connect timeout, in seconds; a connection's is the smaller of this and its ``timeout``.
CONNECT_TIMEOUT = 10.0
#: Retries of a transient failure after the first attempt (``extra.max_retries``).
MAX_RETRIES = 5
#: Upper bound of one backoff wait, ``Retry-After`` included, in seconds (``extra.retry_max_wait``).
RETRY_MAX_WAIT: float = 30
#: The provider's section of the Airflow configuration (its options are declared in ``get_provider_info``).
SECTION = "mix"
#: The Airflow option (section, key) of the hold after a deferral.
DEFER_SETTLE_OPTION = (SECTION, "defer_settle_seconds")
#: Seconds after a deferral before a Mix trigger yields an event (:data:`DEFER_SETTLE_OPTION`).
DEFER_SETTLE: float = 10
#: The Airflow option (section, key) naming where sessions created through the provider are recorded.
SESSION_LEDGER_OPTION = (SECTION, "session_ledger")
#: Its default: empty, no ledger.
SESSION_LEDGER = ""


def option_label(option: tuple[str, str]) -> str:
    """How errors and logs name an Airflow option: ``[section] key``."""
    return "[{}] {}".format(*option)
