#!/usr/bin/env python3
"""What a 3scale System refresh costs each Envoy worker (no make target; README "Benchmark").

Serves a large System answer from the mock (`mock-3scale-system --publish FILE`, the file from
`cargo bench -p tollgate-core --bench system_compile -- --write-services FILE`), runs Envoy
(`--concurrency 2`) with each module in turn, the order swapped every round, and publishes a
change to one service `--changes` times per run. Each worker thread's CPU time
(/proc/PID/task/TID/schedstat) is read from the change until `refresh_s + settle_s` later, a
window in which every worker installs the new set once (a fetch that changes nothing publishes
nothing). Printed per module, median (min-max) over every change:

  install          the worker that spent less: decoding the published set, compiling and
                   installing it, all on the worker's thread (its requests wait meanwhile)
  fetching worker  the worker that spent more: the same, plus reading the answer and checking
                   each service, for each fetch in the window (every refresh_s)

    python3 bench/system_refresh.py --envoy ENVOY --mock target/release/mock-3scale-system \
        --services services.json --wasm before=old.wasm --wasm after=new.wasm [--rounds 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

TOKEN = "bench-system-token"
SAMPLE_S = 0.05


def http(method: str, url: str, body: bytes | None = None, timeout: float = 10) -> bytes:
    req = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read()


def envoy_config(wasm: str, admin: int, front: int, system: int, refresh_s: int) -> dict:
    filter_config = {
        "backend": {"cluster": "threescale_backend", "timeout_ms": 1000},
        "system": {"cluster": "threescale_system", "access_token": TOKEN,
                   "refresh_s": refresh_s, "timeout_ms": 10000},
    }
    cluster = lambda name, port: {  # noqa: E731
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                          "port_value": port}}}}]}]}}
    wasm_filter = {"name": "envoy.filters.http.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {"name": "tollgate", "root_id": "tollgate",
                   "vm_config": {"vm_id": "tollgate", "runtime": "envoy.wasm.runtime.v8",
                                 "code": {"local": {"filename": wasm}}},
                   "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                     "value": json.dumps(filter_config)}}}}
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network"
                    ".http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": "front",
           "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
               {"match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]},
           "http_filters": [wasm_filter, {"name": "envoy.filters.http.router", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [{"name": "front", "address": {"socket_address": {
                "address": "127.0.0.1", "port_value": front}}, "filter_chains": [{"filters": [
                    {"name": "envoy.filters.network.http_connection_manager",
                     "typed_config": hcm}]}]}],
            "clusters": [cluster("threescale_system", system),
                         cluster("threescale_backend", 9)],
        },
    }


def gauge(admin: int, name: str) -> int | None:
    try:
        text = http("GET", f"http://127.0.0.1:{admin}/stats?filter={name}$", timeout=2).decode()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key.endswith(name) and value.strip().isdigit():
            return int(value)
    return None


def workers(pid: int) -> list[int]:
    found = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().strip().startswith("wrk:worker"):
                found.append(int(tid))
    return sorted(found)


class Sampler(threading.Thread):
    """Each worker's cumulative CPU (ns) every SAMPLE_S, with the time of the sample."""

    def __init__(self, pid: int, tids: list[int]):
        super().__init__(daemon=True)
        self.paths = [f"/proc/{pid}/task/{t}/schedstat" for t in tids]
        self.samples: list[tuple[float, list[int]]] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            cpu = []
            for path in self.paths:
                with open(path) as f:
                    cpu.append(int(f.read().split()[0]))
            self.samples.append((time.monotonic(), cpu))
            time.sleep(SAMPLE_S)


def cpu_between(samples, worker: int, start: float, end: float) -> float:
    inside = [c for t, c in samples if start <= t <= end]
    return (inside[-1][worker] - inside[0][worker]) / 1e9 if len(inside) > 1 else 0.0


def run_envoy(args, name: str, wasm: str, system_port: int, content: dict, serial: list):
    admin, front = 19901, 19902
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "envoy.json")
        with open(path, "w") as f:
            json.dump(envoy_config(wasm, admin, front, system_port, args.refresh_s), f)
        log = open(os.path.join(tmp, "envoy.log"), "w")
        envoy = subprocess.Popen([args.envoy, "-c", path, "--concurrency", "2", "-l", "warning",
                                  "--base-id", "77"], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 120
            while gauge(admin, "tollgate.config_services") != args.count:
                if time.monotonic() > deadline or envoy.poll() is not None:
                    raise RuntimeError(f"{name}: the services never loaded")
                time.sleep(0.2)
            time.sleep(args.refresh_s + 3)  # both workers have installed the first set
            sampler = Sampler(envoy.pid, workers(envoy.pid))
            sampler.start()
            results = []
            for _ in range(args.changes):
                time.sleep(args.refresh_s + 1.5)
                changed_at = time.monotonic()
                serial[0] += 1
                content["proxy"]["proxy_rules"][0]["delta"] = serial[0]
                http("POST", f"http://127.0.0.1:{system_port}/__control/publish",
                     json.dumps(content).encode())
                time.sleep(args.refresh_s + args.settle_s)
                done = time.monotonic()
                spent = [cpu_between(sampler.samples, w, changed_at, done) for w in (0, 1)]
                results.append({"install": min(spent), "fetcher": max(spent)})
            sampler.stop.set()
            return results
        finally:
            envoy.terminate()
            envoy.wait(timeout=30)
            log.close()


def summary(values: list[float]) -> str:
    values = [v * 1e3 for v in values if v is not None]
    if not values:
        return "-"
    return f"{statistics.median(values):7.0f} ms ({min(values):.0f}-{max(values):.0f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envoy", required=True)
    parser.add_argument("--mock", required=True, help="the mock-3scale-system binary")
    parser.add_argument("--services", required=True, help="JSON array of service contents")
    parser.add_argument("--wasm", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--refresh-s", type=int, default=3)
    parser.add_argument("--settle-s", type=float, default=8.0)
    args = parser.parse_args()
    modules = [w.split("=", 1) for w in args.wasm]
    with open(args.services) as f:
        contents = json.load(f)
    args.count = len(contents)
    system_port = 19903
    mock = subprocess.Popen([args.mock, "--listen", f"127.0.0.1:{system_port}", "--token", TOKEN,
                             "--publish", args.services, "--quiet"])
    serial = [1000]
    try:
        time.sleep(2)
        results: dict[str, list[dict]] = {name: [] for name, _ in modules}
        for r in range(args.rounds):
            order = modules if r % 2 == 0 else modules[::-1]
            for name, wasm in order:
                got = run_envoy(args, name, wasm, system_port, contents[0], serial)
                results[name].extend(got)
                print(f"round {r + 1} {name}: " + ", ".join(
                    f"install {g['install'] * 1e3:.0f} ms / fetcher {g['fetcher'] * 1e3:.0f} ms"
                    for g in got), flush=True)
        print(f"\n{args.count} services, {args.rounds} rounds x {args.changes} changes "
              f"(refresh_s {args.refresh_s}); median (min-max)")
        print(f"{'module':<10} {'install (every worker)':<28} fetching worker (window)")
        for name, _ in modules:
            got = results[name]
            print(f"{name:<10} {summary([g['install'] for g in got]):<28} "
                  f"{summary([g['fetcher'] for g in got])}")
    finally:
        mock.terminate()
        mock.wait(timeout=10)


if __name__ == "__main__":
    main()
