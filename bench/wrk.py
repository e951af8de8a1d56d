"""Running wrk and reading its output."""

import re
import subprocess
from dataclasses import dataclass

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass
class WrkResult:
    listener: str
    rps: float
    p50_s: float
    p99_s: float
    requests: int
    non_2xx: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: int  # connect + read + write + timeout
    envoy_cpu_s: float = 0.0  # Envoy's user + system CPU time during the run, set by the caller

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    @property
    def cpu_per_request_s(self) -> float:
        return self.envoy_cpu_s / self.requests if self.requests else float("nan")


def _duration(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"cannot read wrk duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(listener: str, output: str) -> WrkResult:
    def find(pattern: str) -> re.Match:
        m = re.search(pattern, output, re.MULTILINE)
        if not m:
            raise ValueError(f"wrk output has no match for {pattern!r}:\n{output}")
        return m

    socket_errors = 0
    m = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if m:
        socket_errors = sum(int(g) for g in m.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        listener=listener,
        rps=float(find(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50_s=_duration(find(r"^\s+50%\s+(\S+)").group(1)),
        p99_s=_duration(find(r"^\s+99%\s+(\S+)").group(1)),
        requests=int(find(r"^\s+(\d+) requests in").group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def command(wrk: str, threads: int, connections: int, seconds: float, url: str,
            headers: dict[str, str]) -> list[str]:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    return cmd + [url]


def run(wrk: str, listener: str, threads: int, connections: int, seconds: float, url: str,
        headers: dict[str, str]) -> WrkResult:
    cmd = command(wrk, threads, connections, seconds, url, headers)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return parse(listener, done.stdout)
