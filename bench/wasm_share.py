"""The Wasm code's own CPU per request, in Envoy: `perf record` on the Envoy process while wrk
drives one listener, and the samples that fall in V8's generated code (`[JIT]`, where the
filter's Wasm runs), in Envoy's own code (the `envoy` binary: HTTP, the router, V8's runtime),
and elsewhere (the kernel, libc), each divided by the requests served.

Envoy CPU per request (the tables) includes everything Envoy does for a request and moves
with the machine's load; the Wasm share is the part a filter change acts on, and the floor
filter's is the least any Wasm filter spends there. A filter can also make Envoy's own code
slower (its code and data evict Envoy's from the CPU caches): the `envoy` column shows it.
Optional: skipped without `perf` or without the right to sample Envoy.
"""

import os
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field

# A sample every 100 µs of CPU time (a fixed period, not a frequency: every sample weighs the
# same, so the counts add up to CPU time).
PERIOD_NS = 100_000


@dataclass
class WasmShare:
    listener: str
    jit_us: list[float] = field(default_factory=list)  # per run: Wasm µs per request
    envoy_us: list[float] = field(default_factory=list)  # per run: Envoy's own code
    total_us: list[float] = field(default_factory=list)  # per run: all samples, µs per request


def available() -> bool:
    return shutil.which("perf") is not None


def measure(pid: int, run_wrk, listener: str, seconds: float) -> tuple[float, float, float] | None:
    """Samples Envoy while `run_wrk()` (returning the requests served) runs; returns (Wasm,
    Envoy's own code, all) in µs per request, or None if perf failed."""
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        perf = subprocess.Popen(
            ["perf", "record", "-e", "cpu-clock", "-c", str(PERIOD_NS), "-p", str(pid),
             "-o", data, "--", "sleep", str(seconds + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        requests = run_wrk()
        perf.wait()
        if perf.returncode != 0 or not requests:
            return None
        report = subprocess.run(
            ["perf", "report", "-i", data, "--no-children", "--sort", "dso", "-g", "none",
             "--stdio", "-F", "sample,dso"], capture_output=True, text=True)
    by_dso = {"jit": 0, "envoy": 0, "all": 0}
    for line in report.stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+(.*\S)\s*$", line)
        if not m:
            continue
        samples, dso = int(m.group(1)), m.group(2)
        by_dso["all"] += samples
        if dso.startswith("[JIT]"):
            by_dso["jit"] += samples
        elif dso == "envoy":
            by_dso["envoy"] += samples
    us = PERIOD_NS / 1000 / requests
    return by_dso["jit"] * us, by_dso["envoy"] * us, by_dso["all"] * us


def lines(shares: list[WasmShare]) -> list[str]:
    if not shares:
        return []
    out = [
        "",
        "## The Wasm code's CPU per request, sampled in Envoy",
        "",
        f"`perf record -e cpu-clock -c {PERIOD_NS}` (a sample per {PERIOD_NS // 1000} µs of "
        "CPU) on the Envoy process while wrk drove one listener (the runs alternate between "
        "listeners); the samples in V8's generated code (`[JIT]`, where the filter's Wasm "
        "runs), in Envoy's own code (the `envoy` binary, V8's runtime included), and all "
        "samples, divided by the requests served (medians). The Wasm share moves less with the "
        "machine's load than Envoy's whole CPU per request; the floor filter's is the least a "
        "Wasm filter spends there. A filter whose code and data evict Envoy's from the CPU "
        "caches also makes the `envoy` column grow.",
        "",
        "| listener | Wasm µs/request (min–max) | Envoy's own code | all samples | runs |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in shares:
        if not s.jit_us:
            continue
        out.append(f"| `{s.listener}` | {statistics.median(s.jit_us):.1f} "
                   f"({min(s.jit_us):.1f}–{max(s.jit_us):.1f}) | "
                   f"{statistics.median(s.envoy_us):.1f} | "
                   f"{statistics.median(s.total_us):.1f} | {len(s.jit_us)} |")
    return out
