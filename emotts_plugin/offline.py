"""Keeping the process offline: libraries emotts loads are told not to reach the network.

onnxruntime's official wheels (1.29 and later on Linux and macOS) carry Microsoft's 1DS
telemetry: about 9 s after the library starts, and then again with backoff, it looks up
``mobile.events.data.microsoft.com`` to upload usage events, and at start it writes a device
id and an event store to ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``. The switch the
library documents for this ("Disabling Telemetry" in the ``Privacy.md`` its wheel ships) is
the environment variable ``ORT_DISABLE_TELEMETRY=1``: with it no uploader, events, device id
or offline store is created. The library reads it once, when it initialises, and that happens
while ``import onnxruntime`` runs; set after the import it changes nothing for the life of the
process. ``onnxruntime.disable_telemetry_events()`` is not enough either: by the time it can be
called the store is written, and the lookups still happen.

Measured with onnxruntime 1.32.0 under ``strace -f`` (``$HOME`` a fresh folder): without the
variable the import makes ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (``deviceid``,
``onnxruntime.db``) and 9.1-9.4 s later the process connects to the resolver on port 53 and
sends a query for ``mobile.events.data.microsoft.com`` (again after ~5 s, ~8 s, ~21 s, …);
the same with ``disable_telemetry_events()`` called right after the import; with
``ORT_DISABLE_TELEMETRY=1`` set before the import: no connect, no send, no file.
"""

from __future__ import annotations

import logging
import os
import sys

_LOGGER = logging.getLogger(__name__)

#: Environment switches that libraries read when they load, each with the value that keeps them
#: off the network, and the module whose import reads it.
OFFLINE_ENVIRONMENT = (("ORT_DISABLE_TELEMETRY", "1", "onnxruntime"),)


def keep_libraries_offline() -> None:
    """Set every switch of :data:`OFFLINE_ENVIRONMENT` the environment leaves unset.

    Call it before the libraries are imported (the voice backends call it when they load). A
    value the environment already gives is the operator's choice and is kept. A library that is
    already loaded has read its switch: a warning says how to set it in the environment.
    """
    for name, value, module in OFFLINE_ENVIRONMENT:
        if os.environ.get(name):
            continue
        os.environ[name] = value
        if module in sys.modules:
            _LOGGER.warning(
                "%s was imported before emotts could set %s=%s, so it may still reach the network; "
                "set %s=%s in the environment that starts this process",
                module,
                name,
                value,
                name,
                value,
            )
