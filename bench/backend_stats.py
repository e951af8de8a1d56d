"""Counting what the 3scale backend saw: `GET /_mock/stats` on mock-3scale and Envoy's counters.

`3scale-batched` has a mock-3scale of its own, so every call that mock counts was caused by
that listener, whenever it arrives (batched reports are sent after the requests they carry).
"""

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass

from envoy_config import upstream_cluster


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.read().decode()


def mock_stats(port: int) -> dict:
    """`{"calls": {endpoint: n}, "reported": {service: {metric: total}}}`."""
    return json.loads(_get(port, "/_mock/stats"))


def envoy_stats(admin_port: int) -> str:
    """All of Envoy's stats, as `/stats` prints them."""
    return _get(admin_port, "/stats")


def envoy_counter(admin_port: int, name: str) -> int:
    """One Envoy counter by exact name (0 if Envoy has not created it yet)."""
    text = _get(admin_port, "/stats?filter=" + urllib.parse.quote(f"^{name}$"))
    for line in text.splitlines():
        stat, _, value = line.partition(": ")
        if stat == name:
            return int(value)
    return 0


@dataclass
class BatchedFigures:
    """What a batched listener cost the backend, and whether its reports lost anything."""

    listener: str
    service_id: str
    calls: dict[str, int]  # backend calls per endpoint from after the warm-up to the end
    # Requests the listener received over the same window (an Envoy counter: unlike wrk's
    # count it includes requests still in flight when a run stopped), and its stat name.
    requests: int
    requests_stat: str
    wrk_requests: int  # requests wrk completed in the measured runs, for reference
    reported_hits: int  # the mock's `hits` total for the service, since start
    forwarded: int  # requests the listener forwarded upstream, since start
    forwarded_stat: str

    @property
    def calls_per_1000(self) -> float:
        return 1000 * sum(self.calls.values()) / self.requests if self.requests else float("nan")


class BatchedAccount:
    """Opened after the warm-up (once its last batch is out), closed after the last run and
    the last batch: the backend calls in between, and the usage reported since start."""

    def __init__(self, listener: str, service_id: str, mock_port: int, admin_port: int):
        self.listener, self.service_id = listener, service_id
        self.mock_port, self.admin_port = mock_port, admin_port
        self.received_stat = f"http.{listener}.downstream_rq_total"
        self.forwarded_stat = f"cluster.{upstream_cluster(listener)}.upstream_rq_total"
        self.calls_before = mock_stats(mock_port)["calls"]
        self.received_before = envoy_counter(admin_port, self.received_stat)

    def close(self, wrk_requests: int) -> BatchedFigures:
        after = mock_stats(self.mock_port)
        return BatchedFigures(
            listener=self.listener,
            service_id=self.service_id,
            calls={ep: n - self.calls_before.get(ep, 0) for ep, n in after["calls"].items()},
            requests=envoy_counter(self.admin_port, self.received_stat) - self.received_before,
            requests_stat=self.received_stat,
            wrk_requests=wrk_requests,
            reported_hits=after["reported"].get(self.service_id, {}).get("hits", 0),
            forwarded=envoy_counter(self.admin_port, self.forwarded_stat),
            forwarded_stat=self.forwarded_stat,
        )
