"""The Wasm code's own CPU per request, in Envoy: `perf record` on the Envoy process while wrk
drives one listener, and the samples that fall in V8's generated code (`[JIT]`, where the
filter's Wasm runs) divided by the requests served.

Envoy CPU per request (the tables) includes everything Envoy does for a request and moves
with the machine's load; the Wasm share is the part a filter change acts on, and the floor
filter's is the least any Wasm filter spends there. Optional: skipped without `perf` or
without the right to sample Envoy.
"""

import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field

FREQUENCY_HZ = 4000


@dataclass
class WasmShare:
    listener: str
    jit_us: list[float] = field(default_factory=list)  # per run: Wasm µs per request
    total_us: list[float] = field(default_factory=list)  # per run: all samples, µs per request


def available() -> bool:
    return shutil.which("perf") is not None


def measure(pid: int, run_wrk, listener: str, seconds: float) -> tuple[float, float] | None:
    """Samples Envoy while `run_wrk()` (returning the requests served) runs; returns (Wasm
    µs per request, all µs per request), or None if perf failed."""
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        perf = subprocess.Popen(
            ["perf", "record", "-F", str(FREQUENCY_HZ), "-p", str(pid), "-o", data, "--",
             "sleep", str(seconds + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        requests = run_wrk()
        perf.wait()
        if perf.returncode != 0 or not requests:
            return None
        report = subprocess.run(
            ["perf", "report", "-i", data, "--no-children", "--sort", "dso", "-g", "none",
             "--stdio"], capture_output=True, text=True)
        stats = subprocess.run(["perf", "report", "-i", data, "--stats"], capture_output=True,
                               text=True)
    samples = next((int(line.split()[2]) for line in stats.stdout.splitlines()
                    if "SAMPLE events" in line), 0)
    jit_pct = sum(float(line.split()[0].rstrip("%")) for line in report.stdout.splitlines()
                  if "[JIT]" in line and line.strip()[0].isdigit())
    us_per_sample = 1e6 / FREQUENCY_HZ
    total = samples * us_per_sample / requests
    return total * jit_pct / 100, total


def lines(shares: list[WasmShare]) -> list[str]:
    if not shares:
        return []
    out = [
        "",
        "## The Wasm code's CPU per request, sampled in Envoy",
        "",
        f"`perf record -F {FREQUENCY_HZ}` on the Envoy process while wrk drove one listener "
        "(the runs alternate between listeners); the samples in V8's generated code (`[JIT]`, "
        "where the filter's Wasm runs), and all samples, divided by the requests served. The "
        "Wasm share moves less with the machine's load than Envoy's whole CPU per request; the "
        "floor filter's is the least a Wasm filter spends there.",
        "",
        "| listener | Wasm µs/request (median, min–max) | all samples µs/request | runs |",
        "|---|---:|---:|---:|",
    ]
    for s in shares:
        if not s.jit_us:
            continue
        out.append(f"| `{s.listener}` | {statistics.median(s.jit_us):.1f} "
                   f"({min(s.jit_us):.1f}–{max(s.jit_us):.1f}) | "
                   f"{statistics.median(s.total_us):.1f} | {len(s.jit_us)} |")
    return out
