"""The benchmark's Envoy configuration: one process, several front listeners, one upstream.

    upstream listener   direct_response 200 "ok" (the fastest possible upstream)
    front listeners     HTTP connection manager -> [wasm filter] -> router -> upstream

Every front listener routes to the upstream listener through a cluster of its own,
`upstream_<listener>` (all alike), so the only difference between two front listeners is their
filter, and `cluster.upstream_<listener>.upstream_rq_total` counts exactly the requests that
listener forwarded. Rendered as YAML (a tiny emitter below; the standard library has no YAML
writer).
"""

import json
import re
from dataclasses import dataclass


@dataclass
class Listener:
    name: str  # also the stat prefix
    port: int
    module: str | None  # a key of render()'s `modules` ("tollgate", "floor"), None: no filter
    filter_config: dict | None = None  # the plugin configuration (JSON), if any
    pre_filters: list | None = None  # HTTP filters before the wasm filter (jwt_authn)


def upstream_cluster(listener: str) -> str:
    return f"upstream_{listener}"


def _wasm_filter(name: str, module: str, wasm_path: str, filter_config: dict | None) -> dict:
    config = {
        # One plugin per listener; plugins of one module share a VM (one per worker thread).
        "name": f"{module}_{name}",
        "root_id": module,
        "vm_config": {
            "vm_id": module,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": wasm_path}},
        },
        "allow_on_headers_stop_iteration": True,
        "failure_policy": "FAIL_RELOAD",
    }
    if filter_config is not None:
        config["configuration"] = {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": json.dumps(filter_config, separators=(",", ":")),
        }
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": config,
        },
    }


def _router() -> dict:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        },
    }


def _listener(name: str, port: int, route: dict, http_filters: list) -> dict:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network"
                            ".http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": name,
                            "codec_type": "AUTO",
                            "normalize_path": True,
                            "merge_slashes": True,
                            "route_config": {
                                "name": f"{name}_route",
                                "virtual_hosts": [
                                    {
                                        "name": "all",
                                        "domains": ["*"],
                                        "routes": [{"match": {"prefix": "/"}, **route}],
                                    }
                                ],
                            },
                            "http_filters": http_filters + [_router()],
                        },
                    }
                ]
            }
        ],
    }


def _cluster(name: str, port: int) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "127.0.0.1", "port_value": port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }


def render(
    listeners: list[Listener],
    upstream_port: int,
    backends: dict[str, int],
    admin_port: int,
    modules: dict[str, str],
) -> str:
    """backends: cluster name -> port of a mock-3scale; modules: module name -> .wasm path."""
    upstream = _listener(
        "upstream",
        upstream_port,
        {"direct_response": {"status": 200, "body": {"inline_string": "ok"}}},
        [],
    )
    fronts = [
        _listener(
            l.name,
            l.port,
            {"route": {"cluster": upstream_cluster(l.name), "timeout": "15s"}},
            (l.pre_filters or [])
            + ([] if l.module is None
               else [_wasm_filter(l.name, l.module, modules[l.module], l.filter_config)]),
        )
        for l in listeners
    ]
    clusters = [_cluster(upstream_cluster(l.name), upstream_port) for l in listeners]
    clusters += [_cluster(name, port) for name, port in backends.items()]
    config = {
        "static_resources": {
            "listeners": [upstream, *fronts],
            "clusters": clusters,
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
    }
    return "# Rendered by bench/envoy_config.py for scripts/bench.sh.\n" + to_yaml(config)


def to_yaml(value, indent: int = 0) -> str:
    """Block-style YAML; scalars are written as JSON, which YAML reads as-is."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{_scalar(key)}:\n{to_yaml(item, indent + 1)}")
            else:
                out.append(f"{pad}{_scalar(key)}: {_inline(item)}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = []
        for item in value:
            if isinstance(item, (dict, list)) and item:
                body = to_yaml(item, indent + 1)
                # "- " takes the place of the first line's indentation.
                out.append(f"{pad}- {body[len(pad) + 2:]}")
            else:
                out.append(f"{pad}- {_inline(item)}\n")
        return "".join(out)
    return pad + _scalar(value) + "\n"


def _inline(value) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def _scalar(value) -> str:
    # Plain identifiers stay unquoted for readability; anything YAML could read otherwise
    # (numbers, booleans, null) is quoted.
    if (
        isinstance(value, str)
        and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", value)
        and value.lower() not in {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}
    ):
        return value
    return json.dumps(value)
