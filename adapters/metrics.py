"""The server's counters and their Prometheus text: what ``GET /metrics`` answers.

:class:`Metrics` counts requests by route and status, errors, clients that went away, audio
rendered and latency; :meth:`Metrics.render` writes them, with the render queue's load and the
cache's statistics, in the Prometheus text exposition format (version 0.0.4).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from emotts_plugin.render_queue import RenderQueue


class Metrics:
    """Counters for ``/metrics`` (Prometheus text format)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.errors: dict[str, int] = {}
        self.client_disconnects: dict[str, int] = {}
        self.audio_seconds = 0.0
        self.latency_sum = 0.0
        self.latency_count = 0
        self.started = time.time()

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] = self.requests.get((route, status), 0) + 1
        if status >= 400:
            self.errors[route] = self.errors.get(route, 0) + 1
        self.latency_sum += seconds
        self.latency_count += 1

    def client_disconnect(self, route: str) -> None:
        """A client went away before its answer: counted apart, neither a status nor an error."""
        self.client_disconnects[route] = self.client_disconnects.get(route, 0) + 1

    def render(self, queue: RenderQueue, cache: dict[str, int] | None = None) -> str:
        """The Prometheus text of the counters, the queue's load and (when given) the cache's
        statistics (:meth:`~emotts_plugin.cache.RenderCache.stats`)."""
        lines = [
            "# HELP emotts_requests_total HTTP requests by route and status.",
            "# TYPE emotts_requests_total counter",
        ]
        for (route, status), count in sorted(self.requests.items()):
            lines.append(f'emotts_requests_total{{route="{route}",status="{status}"}} {count}')
        lines += [
            "# HELP emotts_errors_total HTTP requests answered with an error.",
            "# TYPE emotts_errors_total counter",
        ]
        for route, count in sorted(self.errors.items()):
            lines.append(f'emotts_errors_total{{route="{route}"}} {count}')
        lines += [
            "# HELP emotts_client_disconnects_total Requests whose client went away before the answer.",
            "# TYPE emotts_client_disconnects_total counter",
        ]
        for route, count in sorted(self.client_disconnects.items()):
            lines.append(f'emotts_client_disconnects_total{{route="{route}"}} {count}')
        lines += [
            "# HELP emotts_audio_seconds_total Seconds of audio rendered.",
            "# TYPE emotts_audio_seconds_total counter",
            f"emotts_audio_seconds_total {self.audio_seconds:.3f}",
            "# HELP emotts_request_latency_seconds Time to answer requests.",
            "# TYPE emotts_request_latency_seconds summary",
            f"emotts_request_latency_seconds_sum {self.latency_sum:.6f}",
            f"emotts_request_latency_seconds_count {self.latency_count}",
            "# HELP emotts_queue_load Renders running or waiting.",
            "# TYPE emotts_queue_load gauge",
            f"emotts_queue_load {queue.load}",
            "# HELP emotts_render_jobs_total"
            " Jobs (a sentence, a prompt, an analysis) the render threads finished.",
            "# TYPE emotts_render_jobs_total counter",
            f"emotts_render_jobs_total {queue.jobs_done}",
        ]
        if cache is not None:
            lines += [
                "# HELP emotts_cache_hits_total Rendered sentences answered from the cache, by tier.",
                "# TYPE emotts_cache_hits_total counter",
                f'emotts_cache_hits_total{{tier="memory"}} {cache["hits_memory"]}',
                f'emotts_cache_hits_total{{tier="disk"}} {cache["hits_disk"]}',
                "# HELP emotts_cache_misses_total Rendered sentences not in the cache (rendered).",
                "# TYPE emotts_cache_misses_total counter",
                f"emotts_cache_misses_total {cache['misses']}",
                "# HELP emotts_cache_evictions_total Entries dropped to stay within the bounds, by tier.",
                "# TYPE emotts_cache_evictions_total counter",
                f'emotts_cache_evictions_total{{tier="memory"}} {cache["evictions_memory"]}',
                f'emotts_cache_evictions_total{{tier="disk"}} {cache["evictions_disk"]}',
                "# HELP emotts_cache_bytes Bytes held, by tier.",
                "# TYPE emotts_cache_bytes gauge",
                f'emotts_cache_bytes{{tier="memory"}} {cache["memory_bytes"]}',
                f'emotts_cache_bytes{{tier="disk"}} {cache["disk_bytes"]}',
            ]
        return "\n".join(lines) + "\n"
