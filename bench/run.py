#!/usr/bin/env python3
"""Tollgate benchmark: one Envoy, one listener per filter setup, paired wrk runs.

Started by scripts/bench.sh (`make bench`). Environment:

    ENVOY_BIN        Envoy binary (required)
    TOLLGATE_WASM    the module (default target/wasm32-unknown-unknown/release/tollgate.wasm)
    TOLLGATE_WASM_BASELINE  another module: `apikey` and `3scale-batched` are run with it too
                     (`apikey-base`, `3scale-batched-base`) and compared with it
    FLOOR_WASM       the floor filter (default .../release/floor_filter.wasm)
    MOCK_3SCALE      mock backend binary (default target/release/mock-3scale)
    WRK              wrk binary (default: wrk on PATH)
    BENCH_PAIRS      pairs per comparison (default 8)
    BENCH_SECONDS    seconds per wrk run (default 4)
    BENCH_WARMUP     warm-up seconds per listener (default 2)
    BENCH_THREADS    wrk threads (default 2)
    BENCH_CONNECTIONS  wrk connections (default 32)
    BENCH_HOLD       start and check everything, then wait (for profiling) instead of measuring
    BENCH_ONLY       comma-separated comparisons to run, e.g. `3scale-batched/floor,jwt-rs256`
                     (a bare name: all of its comparisons); default all
    BENCH_SHARE      listeners whose Wasm share perf samples (default floor,3scale-batched,apikey)
    BENCH_OUT        results file (default bench/RESULTS.md; target/bench/RESULTS.md with BENCH_ONLY
                     or TOLLGATE_WASM_BASELINE)

Every process it starts is stopped on exit, including Ctrl-C and SIGTERM.
"""

import hashlib
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import backend_stats  # noqa: E402
import envoy_config  # noqa: E402
import mint  # noqa: E402
import report  # noqa: E402
import wasm_share  # noqa: E402
import wrk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "bench")

CONCURRENCY = 2
MOCK_LATENCY_MS = 2
API_KEY = "bench_4f1c9a7e2b6d8053a1e7c9f2d4b6a8e0"
SERVICE_TOKEN = "bench-service-token"
USER_KEY = "bench-user-key"
# The floor filter sets this header; the 3scale listeners are configured to set the same one.
SECRET_TOKEN = "bench-secret"
BATCHED_SERVICE = "batched"
BATCHED_KEYS = [f"bench-key-{i}" for i in range(10)]
AUTHS_TTL = 10
BATCH_REPORT_SECONDS = 2
ISSUER = "https://idp.bench.example"
AUDIENCE = "bench-api"
# Forged tokens per second sent to `jwt-es256-flood` (a known kid, valid claims, a signature of
# other claims: only the signature check refuses them).
FLOOD_RATE = 1000
FLOOD_CONNECTIONS = 16
GET_ROOT_HITS = [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]
# Issue 12's "chain of five policies": each runs on every request (the client is 127.0.0.1).
# `rate_limit_headers` stands where `3scale_referrer` stood until 2026-12-05: a service with
# `3scale_referrer` is authorized by an authrep per request now (a cache entry per client-chosen
# `Referer` multiplied its budget), so this listener would no longer be cached + batched.
FIVE_POLICIES = [
    {"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["127.0.0.1/32"]}},
    {"name": "headers", "configuration": {
        "request": [{"op": "set", "header": "X-Bench", "value": "1"}],
        "response": [{"op": "set", "header": "X-Served-By", "value": "tollgate"}]}},
    {"name": "cors", "configuration": {"allow_origin": "*"}},
    {"name": "statuscode_overwrite", "configuration": {"http_statuses": [
        {"upstream": 500, "apicast": 503}]}},
    {"name": "rate_limit_headers", "configuration": {}},
    {"name": "apicast", "configuration": {}},
]


def env_num(name: str, default, kind=int):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        sys.exit(f"bench: {name}={raw!r} is not a number")
    if value <= 0:
        sys.exit(f"bench: {name} must be positive")
    return value


# ---------------------------------------------------------------------------------------------
# Listeners

@dataclass
class Case:
    """One front listener: its filter, the requests that check it and the load wrk sends."""

    name: str
    description: str
    module: str | None  # "tollgate", "floor", or None (no filter)
    filter_config: dict | None
    good_headers: dict[str, str]
    # (what, headers, accepted statuses) that must be refused.
    refused: list[tuple[str, dict[str, str], set[int]]] = field(default_factory=list)
    # Header sets wrk rotates over (default: good_headers only); each must answer 200.
    load_headers: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    script: str = ""  # the wrk Lua script, written in main()
    # Forged-token flood: these headers are sent at FLOOD_RATE per second, beside wrk's load,
    # during every run of this listener (see Flood), and each must be answered `flood_status`.
    flood_headers: dict[str, str] | None = None
    flood_status: int = 403
    # HTTP filters before Tollgate (Envoy's jwt_authn).
    pre_filters: list = field(default_factory=list)

    def __post_init__(self):
        self.load_headers = self.load_headers or [self.good_headers]


def tollgate_config(service: dict, **backend) -> dict:
    return {
        "backend": {"cluster": "threescale_backend", "authority": "mock-3scale", "timeout_ms": 1000,
                    **backend},
        "services": [service],
    }


def threescale_service(service_id: str) -> dict:
    return {
        "id": service_id,
        "backend_version": 1,
        "backend_authentication_type": "service_token",
        "backend_authentication_value": SERVICE_TOKEN,
        "proxy": {
            "hosts": ["127.0.0.1", "localhost"],
            "credentials_location": "headers",
            "auth_user_key": "user_key",
            "secret_token": SECRET_TOKEN,
            "proxy_rules": GET_ROOT_HITS,
        },
    }


def many_rules(n: int) -> list[dict]:
    """`n` mapping rules, the one requests match (`GET /`) last: a realistic API's spread of
    methods and literal first segments, each with a `{id}` parameter."""
    methods = ["GET", "POST", "PUT", "DELETE"]
    rules = [{"http_method": methods[i % 4], "pattern": f"/resource{i // 4}/{{id}}/items",
              "metric_system_name": "hits", "delta": 1} for i in range(n - 1)]
    return rules + GET_ROOT_HITS


def jwt_authn_filter(jwks: dict, cache: bool) -> dict:
    """Envoy's jwt_authn with the keys inline, the payload kept for Tollgate; `cache`: its
    verified-token cache (`jwt_cache_config`), else every request is verified."""
    provider = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "forward": True,
        "payload_in_metadata": "jwt_payload",
        "local_jwks": {"inline_string": json.dumps(jwks)},
    }
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": 1000}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"bench": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "bench"}, {"allow_missing_or_failed": {}}]}}}],
        },
    }


def local_service(authentication: dict) -> dict:
    return {
        "id": 1,
        "authentication": {"mode": "local", **authentication},
        "proxy": {"hosts": ["127.0.0.1", "localhost"], "proxy_rules": GET_ROOT_HITS},
    }


def cases(signers: dict[str, mint.Signer]) -> list[Case]:
    api_key_hash = "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()  # = `tollgate hash-key`
    out = [
        Case("none", "no filter", None, None, {}),
        Case(
            "floor",
            "floor: minimal Wasm filter (reads `user_key`, sets a header)",
            "floor",
            None,
            {"user_key": USER_KEY},
            [("no user_key", {}, {401})],
        ),
        Case(
            "apikey",
            "API key (local, `X-API-Key`)",
            "tollgate",
            tollgate_config(local_service({
                "api_keys": {"header": "X-API-Key", "keys": [{"id": "bench", "hash": api_key_hash}]}
            })),
            {"X-API-Key": API_KEY},
            [("no key", {}, {401}), ("wrong key", {"X-API-Key": "bench_wrong"}, {403})],
        ),
    ]
    def jwt_case(name: str, description: str, signer: mint.Signer, **options) -> Case:
        jwt = {"jwks": signer.jwks(), "issuer": ISSUER, "audiences": [AUDIENCE], **options}
        return Case(
            name,
            description,
            "tollgate",
            tollgate_config(local_service({"jwt": jwt})),
            {"Authorization": f"Bearer {signer.token}"},
            [("no token", {}, {401}),
             ("forged token", {"Authorization": f"Bearer {signer.bad_token}"}, {403})],
        )

    # cache_size 0: every request pays the signature check (wrk replays one token, which the
    # verified-token cache would otherwise answer after the first request).
    for alg, signer in signers.items():
        out.append(jwt_case(f"jwt-{alg.lower()}", f"JWT {alg} (local, inline JWKS, no cache)",
                            signer, cache_size=0))
    out.append(jwt_case("jwt-es256-cached", "JWT ES256 (local, inline JWKS, cache on: default)",
                        signers["ES256"]))
    out.append(jwt_case("jwt-rs256-cached", "JWT RS256 (local, inline JWKS, cache on: default)",
                        signers["RS256"]))
    # Envoy's jwt_authn verifies (BoringSSL); Tollgate reads the payload it stored.
    for cached in (False, True):
        trusted = jwt_case(
            "jwt-authn-rs256" + ("-cached" if cached else ""),
            "jwt_authn RS256 + Tollgate from_jwt_authn"
            + (" (jwt_authn cache on)" if cached else " (no cache)"),
            signers["RS256"])
        trusted.filter_config = tollgate_config(local_service({"jwt": {
            "from_jwt_authn": {"metadata_key": "jwt_payload"},
            "issuer": ISSUER, "audiences": [AUDIENCE]}}))
        trusted.pre_filters = [jwt_authn_filter(signers["RS256"].jwks(), cached)]
        out.append(trusted)
    flooded = jwt_case("jwt-es256-flood",
                       f"JWT ES256 cached, while {FLOOD_RATE:,} forged ES256 tokens/s arrive",
                       signers["ES256"])
    flooded.flood_headers = {"Authorization": f"Bearer {signers['ES256'].bad_token}"}
    out.append(flooded)
    # The control: as many requests, each refused at once (no token: 401), so that the flood's
    # row can be read as what forged tokens cost beyond any refused traffic (Envoy's HTTP work
    # and the sending threads share the machine with wrk either way).
    control = jwt_case("jwt-es256-flood-control",
                       f"JWT ES256 cached, while {FLOOD_RATE:,} requests/s without a token arrive",
                       signers["ES256"])
    control.flood_headers, control.flood_status = {}, 401
    out.append(control)
    unknown_key = [("no user_key", {}, {401}), ("unknown user_key", {"user_key": "nobody"}, {403})]
    out.append(Case(
        "3scale",
        f"3scale authrep per request (mock, {MOCK_LATENCY_MS} ms)",
        "tollgate",
        tollgate_config(threescale_service("1")),
        {"user_key": USER_KEY},
        unknown_key,
    ))
    out.append(Case(
        "3scale-batched",
        f"3scale cached + batched, {len(BATCHED_KEYS)} keys (mock, {MOCK_LATENCY_MS} ms)",
        "tollgate",
        tollgate_config(
            threescale_service(BATCHED_SERVICE),
            cluster="threescale_batched",
            caching_type="resilient",
            batching={"auths_ttl": AUTHS_TTL, "batch_report_seconds": BATCH_REPORT_SECONDS},
        ),
        {"user_key": BATCHED_KEYS[0]},
        unknown_key,
        load_headers=[{"user_key": k} for k in BATCHED_KEYS],
    ))
    # The same with a chain of five enforced policies before `apicast`.
    service = threescale_service(f"{BATCHED_SERVICE}-policies")
    service["proxy"]["policy_chain"] = FIVE_POLICIES
    out.append(Case(
        "3scale-batched-policies",
        "3scale cached + batched, 5 policies (ip_check, headers, cors, statuscode_overwrite, "
        "rate_limit_headers)",
        "tollgate",
        tollgate_config(
            service,
            cluster="threescale_batched_policies",
            caching_type="resilient",
            batching={"auths_ttl": AUTHS_TTL, "batch_report_seconds": BATCH_REPORT_SECONDS},
        ),
        {"user_key": BATCHED_KEYS[0]},
        unknown_key,
        load_headers=[{"user_key": k} for k in BATCHED_KEYS],
    ))
    # The same with 1,000 mapping rules instead of 1 (10 in `3scale-batched-10rules`).
    for n in (10, 1000):
        service = threescale_service(f"{BATCHED_SERVICE}{n}")
        service["proxy"]["proxy_rules"] = many_rules(n)
        out.append(Case(
            f"3scale-batched-{n}rules",
            f"3scale cached + batched, {n:,} mapping rules",
            "tollgate",
            tollgate_config(
                service,
                cluster=f"threescale_batched{n}",
                caching_type="resilient",
                batching={"auths_ttl": AUTHS_TTL, "batch_report_seconds": BATCH_REPORT_SECONDS},
            ),
            {"user_key": BATCHED_KEYS[0]},
            unknown_key,
            load_headers=[{"user_key": k} for k in BATCHED_KEYS],
        ))
    return out


# (candidate, reference) pairs, in report order. The cached JWT listener is only compared
# with the key check (against no filter it would tell nothing the key check does not).
COMPARISONS = [
    ("floor", "none"),
    ("3scale-batched", "floor"),  # issue 13 target: >= 0.95, over 2 x BENCH_PAIRS pairs
    ("3scale-batched", "none"),
    ("3scale", "none"),
    ("apikey", "none"),
    ("jwt-hs256", "none"),
    ("jwt-rs256", "none"),
    ("jwt-es256", "none"),
    ("jwt-hs256", "apikey"),
    ("jwt-rs256", "apikey"),
    ("jwt-es256", "apikey"),
    ("jwt-es256-cached", "apikey"),
    ("jwt-es256-flood", "jwt-es256-cached"),
    ("jwt-es256-flood-control", "jwt-es256-cached"),  # the same load of refused requests
    ("jwt-es256-flood", "jwt-es256-flood-control"),  # what forged tokens cost beyond it
    ("jwt-authn-rs256", "jwt-rs256"),  # issue 13: jwt_authn + Tollgate vs Tollgate's RS256
    ("jwt-authn-rs256-cached", "jwt-rs256-cached"),
    ("3scale-batched-1000rules", "3scale-batched-10rules"),  # issue 13 goal: >= 0.5
    ("3scale-batched-policies", "3scale-batched"),  # issue 12: a chain of five policies
]


# Comparisons measured over 2 x BENCH_PAIRS pairs: issue 13 reads its cached-path target
# (>= 0.95 of the floor) over 16 pairs.
DOUBLED = {("3scale-batched", "floor"): 2}


def selected_comparisons(only: str) -> list[tuple[str, str]]:
    """BENCH_ONLY: comma-separated `candidate/reference` pairs of COMPARISONS (or a bare
    candidate for all of its pairs); empty for all."""
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    if not wanted:
        return list(COMPARISONS)
    out = []
    for w in wanted:
        match = [c for c in COMPARISONS if w in (c[0], f"{c[0]}/{c[1]}")]
        if not match:
            sys.exit(f"bench: BENCH_ONLY: {w!r} is not one of "
                     + ", ".join(f"{c}/{r}" for c, r in COMPARISONS))
        out += [c for c in match if c not in out]
    return out


def mock_state(service_id: str, user_keys: list[str], limits: list[dict]) -> dict:
    return {
        "services": [{
            "id": service_id, "tokens": [SERVICE_TOKEN], "backend_version": "1",
            "state": "active", "metrics": [{"name": "hits"}],
        }],
        "apps": [{"service_id": service_id, "user_key": k, "plan": "Bench", "limits": limits}
                 for k in user_keys],
    }


# `3scale`: one application with a limit never reached (the answer carries limit headers).
# `3scale-batched`: ten applications without limits, so every request is authorized and every
# forwarded request must end up as one reported hit.
MOCK_STATES = {
    "threescale_backend": mock_state(
        "1", [USER_KEY], [{"metric": "hits", "period": "minute", "value": 10**15}]),
    "threescale_batched": mock_state(BATCHED_SERVICE, BATCHED_KEYS, []),
    "threescale_batched10": mock_state(f"{BATCHED_SERVICE}10", BATCHED_KEYS, []),
    "threescale_batched1000": mock_state(f"{BATCHED_SERVICE}1000", BATCHED_KEYS, []),
    "threescale_batched_policies": mock_state(f"{BATCHED_SERVICE}-policies", BATCHED_KEYS, []),
}


# TOLLGATE_WASM_BASELINE: these listeners again with another module (`NAME-base`), each
# compared with its twin, to measure what a change costs.
BASELINE_CASES = ["apikey", "3scale-batched", "jwt-rs256", "jwt-es256", "jwt-es256-flood"]


def baseline_cases(all_cases: list[Case], size: int) -> list[Case]:
    out = []
    for case in (c for c in all_cases if c.name in BASELINE_CASES):
        config = json.loads(json.dumps(case.filter_config))
        if config["backend"]["cluster"] == "threescale_batched":
            config["backend"]["cluster"] = "threescale_baseline"  # its own mock: own counts
        out.append(Case(f"{case.name}-base", f"{case.description}, baseline module ({size:,} B)",
                        "baseline", config, case.good_headers, case.refused, case.load_headers,
                        flood_headers=case.flood_headers, flood_status=case.flood_status))
    return out


# ---------------------------------------------------------------------------------------------
# Processes

class Processes:
    """Children started by the benchmark; all stopped by stop_all()."""

    def __init__(self):
        self.children: list[tuple[str, subprocess.Popen, str]] = []

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log_path = os.path.join(WORK, f"{name}.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.children.append((name, proc, log_path))
        print(f"    {name}: pid {proc.pid} (log {os.path.relpath(log_path, ROOT)})")
        return proc

    def check_alive(self):
        for name, proc, log_path in self.children:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}; end of {log_path}:\n{tail(log_path)}"
                )

    def stop_all(self):
        for _, proc, _ in self.children:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for _, proc, _ in self.children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.children.clear()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat utime and stime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


def free_ports(n: int) -> list[int]:
    """n distinct loopback ports the kernel reports free (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def http_get(port: int, headers: dict[str, str], path: str = "/") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def wait_until(what: str, check, procs: Processes, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")


def tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


# ---------------------------------------------------------------------------------------------
# Checks and measurements

class Flood:
    """Sends `headers` to `port` at `rate` requests/s in total, from FLOOD_CONNECTIONS threads
    with a keep-alive connection each (one connection is bound by the answer latency under
    load), until the `with` block ends; counts what was sent and the answers that were not
    `status`."""

    def __init__(self, port: int, headers: dict[str, str], rate: int, status: int):
        self.port, self.headers, self.rate, self.status = port, headers, rate, status
        self.sent = self.unexpected = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(rate / FLOOD_CONNECTIONS,),
                                          daemon=True) for _ in range(FLOOD_CONNECTIONS)]

    def __enter__(self):
        self._started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self.seconds = time.monotonic() - self._started

    def _run(self, rate: float):
        conn, sent, unexpected = None, 0, 0
        while not self._stop.is_set():
            # Paced against the start: a slow answer is caught up, never skipped.
            delay = self._started + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/", headers=self.headers)
                response = conn.getresponse()
                response.read()
                unexpected += response.status != self.status
            except (OSError, http.client.HTTPException):
                unexpected += 1
                conn = None
            sent += 1
        with self._lock:
            self.sent += sent
            self.unexpected += unexpected


def flood_note(floods: list[tuple[float, int]]) -> str:
    if not floods:
        return ""
    rates = sorted(rate for rate, _ in floods)
    return (f"while wrk replays one valid (cached) token, {FLOOD_CONNECTIONS} threads send the "
            f"listener's forged token on a keep-alive connection each, paced at {FLOOD_RATE:,}/s "
            f"in total; achieved "
            f"{rates[len(rates) // 2]:,.0f}/s median ({rates[0]:,.0f}–{rates[-1]:,.0f}) over "
            f"{len(floods)} runs, every one answered 403. Default budget "
            "(`max_failed_verifications_per_s: 20` per worker): most are refused with no check. "
            f"Control (`jwt-es256-flood-control`): the same, {FLOOD_RATE:,} requests/s without "
            "a token, each answered 401.")


def verify(case: Case):
    """200 `ok` with every valid credential, the expected refusal without or with a wrong one."""
    problems = []
    for headers in [case.good_headers] + [h for h in case.load_headers if h != case.good_headers]:
        status, body = http_get(case.port, headers)
        if (status, body) != (200, "ok"):
            problems.append(f"valid credential {headers}: expected 200 'ok', got {status} "
                            f"{body[:200]!r}")
    for what, headers, expected in case.refused:
        status, body = http_get(case.port, headers)
        if status not in expected:
            problems.append(f"{what}: expected {sorted(expected)}, got {status} {body[:200]!r}")
    if problems:
        raise RuntimeError(f"listener {case.name} ({case.description}) misbehaves:\n  "
                           + "\n  ".join(problems))
    refusals = ", ".join(f"{w} -> {sorted(e)[0]}" for w, _, e in case.refused)
    valid = f"{len(case.load_headers)} valid -> 200" if len(case.load_headers) > 1 else "valid -> 200"
    print(f"    {case.name:16} ok: {valid}" + (f", {refusals}" if refusals else ""))


HISTORY = "# Earlier measurements"


# Listeners whose Wasm share is sampled with perf (when `perf` is there), 5 runs each;
# BENCH_SHARE names others (e.g. `floor,3scale-batched,3scale-batched-base` for an A/B).
WASM_SHARE_CASES = [n for n in os.environ.get("BENCH_SHARE", "floor,3scale-batched,apikey")
                    .split(",") if n]
WASM_SHARE_RUNS = 5


def sample_wasm_share(pid: int, names: list[str], by_name: dict, threads: int, connections: int,
                      seconds: float, wrk_bin: str) -> list:
    """The Wasm code's CPU per request of each listener, sampled with perf (bench/wasm_share.py)."""
    if not names or not wasm_share.available():
        if names:
            print("bench: perf not found: no Wasm share (bench/wasm_share.py)", file=sys.stderr)
        return []
    print(f"==> sampling the Wasm code's CPU with perf: {', '.join(names)}, "
          f"{WASM_SHARE_RUNS} runs each")
    shares = {n: wasm_share.WasmShare(n) for n in names}
    for i in range(WASM_SHARE_RUNS):
        # The order alternates, so no listener always runs after the same one.
        for name in (names if i % 2 == 0 else names[::-1]):
            case = by_name[name]

            def run(case: Case = case) -> int:
                return wrk.run(wrk_bin, case.name, threads, connections, seconds,
                               f"http://127.0.0.1:{case.port}/", case.script).requests

            got = wasm_share.measure(pid, run, name, seconds)
            if got is None:
                print("bench: perf record failed: no Wasm share", file=sys.stderr)
                return []
            shares[name].jit_us.append(got[0])
            shares[name].envoy_us.append(got[1])
            shares[name].total_us.append(got[2])
            print(f"    {name:16} Wasm {got[0]:5.1f}, Envoy's code {got[1]:6.1f}, all {got[2]:6.1f} "
                  "µs/request")
    return list(shares.values())


def path_micro(wasm_path: str, floor_path: str) -> tuple[dict | None, bool]:
    """Host calls per request, counted by bench/path-micro in Node's V8 (None without node),
    and whether it failed: a harness that no longer drives the module fails the run, rather
    than leave the table out unnoticed (it did from the twentieth session to the
    twenty-ninth)."""
    node = shutil.which("node")
    if node is None:
        print("bench: node not found: no host-call counts (bench/path-micro)", file=sys.stderr)
        return None, False
    print("==> counting host calls per request (bench/path-micro)")
    done = subprocess.run([node, os.path.join(ROOT, "bench", "path-micro", "run.mjs"), "--json",
                           wasm_path], capture_output=True, text=True,
                          env={**os.environ, "FLOOR_WASM": floor_path})
    if done.returncode != 0:
        print(f"bench: bench/path-micro failed:\n{done.stderr}", file=sys.stderr)
        return None, True
    return json.loads(done.stdout), False


def earlier_measurements(path: str) -> str:
    """The results file's history (from its `# Earlier measurements` heading on): a new run
    replaces the tables above it, never the dated sections kept for comparison."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        return ""
    at = old.find("\n" + HISTORY)
    return "\n\n" + old[at + 1:] if at >= 0 else ""


def main() -> int:
    started = time.monotonic()
    load_start = os.getloadavg()
    envoy_bin = os.environ.get("ENVOY_BIN", "")
    wasm_path = os.environ.get("TOLLGATE_WASM") or os.path.join(
        ROOT, "target", "wasm32-unknown-unknown", "release", "tollgate.wasm")
    floor_path = os.environ.get("FLOOR_WASM") or os.path.join(
        ROOT, "target", "wasm32-unknown-unknown", "release", "floor_filter.wasm")
    mock_bin = os.environ.get("MOCK_3SCALE") or os.path.join(ROOT, "target", "release", "mock-3scale")
    wrk_bin = os.environ.get("WRK") or shutil.which("wrk") or ""
    baseline_path = os.environ.get("TOLLGATE_WASM_BASELINE", "")
    if baseline_path:
        COMPARISONS[:0] = [(name, f"{name}-base") for name in BASELINE_CASES]
        MOCK_STATES["threescale_baseline"] = MOCK_STATES["threescale_batched"]
    selected = selected_comparisons(os.environ.get("BENCH_ONLY", ""))
    # A partial run or an A/B against a baseline must not overwrite the published table.
    published = selected == COMPARISONS and not baseline_path
    default_out = os.path.join(ROOT, "bench", "RESULTS.md") if published else os.path.join(
        WORK, "RESULTS.md")
    out_path = os.environ.get("BENCH_OUT") or default_out
    pairs = env_num("BENCH_PAIRS", 8)
    seconds = env_num("BENCH_SECONDS", 4.0, float)
    warmup = env_num("BENCH_WARMUP", 2.0, float)
    threads = env_num("BENCH_THREADS", 2)
    connections = env_num("BENCH_CONNECTIONS", 32)

    for what, path in [("Envoy (ENVOY_BIN)", envoy_bin), ("mock-3scale", mock_bin), ("wrk", wrk_bin)]:
        if not (path and os.access(path, os.X_OK)):
            sys.exit(f"bench: {what} not found or not executable: {path!r}")
    if not os.path.isfile(wasm_path):
        sys.exit(f"bench: module not found: {wasm_path} (run `make build`)")
    if baseline_path and not os.path.isfile(baseline_path):
        sys.exit(f"bench: baseline module not found: {baseline_path}")
    if not os.path.isfile(floor_path):
        sys.exit(f"bench: floor filter not found: {floor_path} (run "
                 "`cargo build --release -p floor-filter --target wasm32-unknown-unknown`)")
    if shutil.which("openssl") is None:
        sys.exit("bench: openssl is needed to mint the RS256/ES256 tokens")

    os.makedirs(WORK, exist_ok=True)
    envoy_version = subprocess.run([envoy_bin, "--version"], capture_output=True, text=True).stdout
    envoy_version = envoy_version.strip().split("version: ")[-1] or "unknown"
    wrk_version = (subprocess.run([wrk_bin, "-v"], capture_output=True, text=True).stdout
                   .splitlines() or ["wrk"])[0].split(" Copyright")[0].strip()

    print("==> minting keys and tokens (openssl, hmac)")
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-user", "azp": "bench-client",
              "iat": int(time.time()), "exp": int(time.time()) + 10 * 365 * 86400}
    signers = mint.mint_all(os.path.join(WORK, "keys"), claims)
    all_cases = cases(signers)
    if baseline_path:
        all_cases += baseline_cases(all_cases, os.path.getsize(baseline_path))
    by_name = {c.name: c for c in all_cases}

    ports = free_ports(len(all_cases) + len(MOCK_STATES) + 2)
    upstream_port, admin_port = ports.pop(), ports.pop()
    mock_ports = {cluster: ports.pop() for cluster in MOCK_STATES}
    for case in all_cases:
        case.port = ports.pop()
        case.script = os.path.join(WORK, f"wrk-{case.name}.lua")
        with open(case.script, "w") as f:
            f.write(wrk.lua_script(case.load_headers))

    yaml_path = os.path.join(WORK, "envoy.yaml")
    with open(yaml_path, "w") as f:
        f.write(envoy_config.render(
            [envoy_config.Listener(c.name, c.port, c.module, c.filter_config, c.pre_filters)
             for c in all_cases],
            upstream_port, mock_ports, admin_port, {"tollgate": wasm_path, "floor": floor_path,
                                                          "baseline": baseline_path}))

    procs = Processes()
    try:
        print("==> starting mock-3scale (one per 3scale listener) and Envoy")
        for cluster, port in mock_ports.items():
            state_path = os.path.join(WORK, f"mock-state-{cluster}.json")
            with open(state_path, "w") as f:
                json.dump(MOCK_STATES[cluster], f, indent=2)
            procs.start(f"mock-{cluster}", [mock_bin, "--listen", f"127.0.0.1:{port}",
                                            "--state", state_path,
                                            "--latency-ms", str(MOCK_LATENCY_MS)])
            wait_until(f"mock-3scale ({cluster})", lambda: tcp_open(port), procs)
        envoy = procs.start("envoy", [envoy_bin, "-c", yaml_path, "--concurrency", str(CONCURRENCY),
                              "--log-level", "warn", "--component-log-level", "wasm:info",
                              "--disable-hot-restart", "--base-id", str(random.randrange(10**6, 10**9))])
        wait_until("Envoy", lambda: http_get(admin_port, {}, "/ready") == (200, "LIVE\n"), procs)
        print("    listeners: " + ", ".join(f"{c.name} :{c.port}" for c in all_cases)
              + f"; upstream :{upstream_port}; admin :{admin_port}; mock-3scale "
              + ", ".join(f"{cluster} :{port}" for cluster, port in mock_ports.items()))

        print("==> checking every listener")
        for case in all_cases:
            verify(case)

        if os.environ.get("BENCH_HOLD"):
            # For profiling (see bench/README.md): everything up and checked, nothing measured.
            print(f"==> holding (BENCH_HOLD); Envoy pid {envoy.pid}; Ctrl-C to stop", flush=True)
            while True:
                procs.check_alive()
                time.sleep(1)

        floods: list[tuple[float, int]] = []  # (forged tokens/s achieved, unexpected answers)

        def measure(case: Case, secs: float) -> wrk.WrkResult:
            procs.check_alive()
            cpu_before = cpu_seconds(envoy.pid)
            if case.flood_headers is None:
                result = wrk.run(wrk_bin, case.name, threads, connections, secs,
                                 f"http://127.0.0.1:{case.port}/", case.script)
            else:
                with Flood(case.port, case.flood_headers, FLOOD_RATE, case.flood_status) as flood:
                    result = wrk.run(wrk_bin, case.name, threads, connections, secs,
                                     f"http://127.0.0.1:{case.port}/", case.script)
                if case.flood_status == 403:  # the forged tokens' runs (not the control's)
                    floods.append((flood.sent / flood.seconds, flood.unexpected))
                if flood.unexpected:
                    raise RuntimeError(f"{case.name}: {flood.unexpected} flood requests were "
                                       f"not answered {case.flood_status}")
            result.envoy_cpu_s = cpu_seconds(envoy.pid) - cpu_before
            return result

        measured = {name for pair in selected for name in pair}
        print(f"==> warm-up, {warmup:g} s per listener")
        for case in (c for c in all_cases if c.name in measured):
            r = measure(case, warmup)
            print(f"    {case.name:16} {report.fmt_rps(r.rps):>8} req/s, "
                  f"Envoy CPU {r.cpu_per_request_s * 1e6:6.1f} µs/request")

        # Let the warm-up's last batch reach the backend before counting calls.
        time.sleep(BATCH_REPORT_SECONDS + 1)
        account = backend_stats.BatchedAccount("3scale-batched", BATCHED_SERVICE,
                                               mock_ports["threescale_batched"], admin_port)

        comparisons = [report.Comparison(cand, ref) for cand, ref in selected]
        # Issue 13's target is read over twice as many pairs as the other comparisons.
        pairs_of = {(c.candidate, c.reference): pairs * DOUBLED.get((c.candidate, c.reference), 1)
                    for c in comparisons}
        total_runs = 2 * sum(pairs_of.values())
        print(f"==> measuring: {len(comparisons)} comparisons x {pairs} pairs (the target's "
              f"{2 * pairs}) x 2 runs of {seconds:g} s = {total_runs} runs, about "
              f"{total_runs * seconds / 60:.1f} min")

        runs: dict[str, list[wrk.WrkResult]] = {c.name: [] for c in all_cases}
        done = 0
        for i in range(max(pairs_of.values())):
            # Rotate so no comparison always follows the same one.
            shift = i % len(comparisons)
            for comp in comparisons[shift:] + comparisons[:shift]:
                n_pairs = pairs_of[(comp.candidate, comp.reference)]
                if i >= n_pairs:
                    continue
                cand, ref = by_name[comp.candidate], by_name[comp.reference]
                order = [ref, cand] if i % 2 == 0 else [cand, ref]
                results = {c.name: measure(c, seconds) for c in order}
                for r in results.values():
                    runs[r.listener].append(r)
                ratio = comp.add_pair(results[cand.name], results[ref.name])
                done += 2
                cpu = (results[cand.name].cpu_per_request_s
                       - results[ref.name].cpu_per_request_s) * 1e6
                print(f"    [{done:3}/{total_runs}] pair {i + 1}/{n_pairs} {cand.name:>16} vs "
                      f"{ref.name:6}: {report.fmt_rps(results[cand.name].rps):>8} / "
                      f"{report.fmt_rps(results[ref.name].rps):>8} req/s, ratio {ratio:.3f}, "
                      f"CPU {cpu:+6.1f} µs/request")
                time.sleep(0.1)
        procs.check_alive()

        shares = sample_wasm_share(envoy.pid, [n for n in WASM_SHARE_CASES if n in measured],
                                   by_name, threads, connections, seconds, wrk_bin)
        procs.check_alive()

        wait = BATCH_REPORT_SECONDS + 3
        print(f"==> waiting {wait} s for the last batched report")
        time.sleep(wait)
        with open(os.path.join(WORK, "envoy-stats.txt"), "w") as f:  # for a closer look
            f.write(backend_stats.envoy_stats(admin_port))
        batched = account.close(sum(r.requests for r in runs["3scale-batched"]))
        procs.check_alive()
    finally:
        procs.stop_all()

    load = os.getloadavg()
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    meta = report.Meta(
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        envoy_version=envoy_version,
        concurrency=CONCURRENCY,
        module_path=os.path.relpath(wasm_path, ROOT),
        module_bytes=os.path.getsize(wasm_path),
        wrk_version=wrk_version,
        wrk_args=" ".join(wrk.command("wrk", threads, connections, seconds, "URL",
                                      "target/bench/wrk-LISTENER.lua")[:-1]),
        pairs=pairs,
        seconds=seconds,
        warmup=warmup,
        machine=f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}; 1-minute load "
                f"average {load_start[0]:.2f} at the start, {load[0]:.2f} at the end "
                f"(5-minute: {load[1]:.2f}); shared with other jobs.",
        mock_latency_ms=MOCK_LATENCY_MS,
        auths_ttl=AUTHS_TTL,
        batch_report_seconds=BATCH_REPORT_SECONDS,
        batched_keys=len(BATCHED_KEYS),
        duration_s=time.monotonic() - started,
        flood=flood_note(floods),
    )
    micro, micro_failed = path_micro(wasm_path, floor_path)
    text = report.render(meta, all_cases, runs, comparisons, batched, micro,
                         wasm_share.lines(shares))
    history = earlier_measurements(out_path)  # read before "w" empties the file
    with open(out_path, "w") as f:
        f.write(text + history)
    print()
    print(text)
    print(f"(written to {os.path.relpath(out_path, ROOT)})")

    failed = micro_failed
    if micro_failed:
        print("bench: ERROR: bench/path-micro failed: no host-call counts (above)",
              file=sys.stderr)
    if batched is not None and batched.reported_hits != batched.forwarded:
        # Batching must report every forwarded call once: anything else is lost usage.
        print(f"bench: ERROR: {batched.listener}: {batched.reported_hits:,} hits reported for "
              f"{batched.forwarded:,} requests forwarded", file=sys.stderr)
        failed = True
    bad = [(n, sum(r.errors for r in rs), sum(r.requests for r in rs)) for n, rs in runs.items()]
    bad = [(n, e, t) for n, e, t in bad if t and e / t > 0.01]
    for n, e, t in bad:
        print(f"bench: ERROR: listener {n}: {e} of {t} requests failed (non-2xx or socket errors)",
              file=sys.stderr)
        failed = True
    return 1 if failed else 0


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except RuntimeError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
