// What a request costs the filter inside V8, without Envoy: a small proxy-wasm host in
// JavaScript drives the built modules (Tollgate and the floor filter) through the ABI exactly
// as Envoy calls them per request (context create, request headers, response headers, log,
// done, delete), answers Tollgate's backend calls, counts every host call by kind, and checks
// that each request ended as it should (forwarded with the secret token, or answered).
//
// It separates the module's own cost (Wasm code plus the calls into the host) from Envoy's:
// `make bench` measures the whole proxy; this measures the part the filter can change.
// Usage: node run.mjs [--rounds N] [--requests N] [--only PATH,...] [--cold-kb N] [tollgate.wasm [baseline.wasm]]
// See README.md.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve, dirname } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
};
const rounds = Number(option("--rounds", 21));
const perRound = Number(option("--requests", 2000));
const only = option("--only", "");
// --cold-kb N: walk N KiB of memory before each request (not timed), so that each starts with
// the CPU caches cold, as in Envoy, where a request's own work evicts the filter's code and
// data; each request is then timed alone (wall clock, this process is the only thread).
const coldKb = Number(option("--cold-kb", 0));
const json = args.includes("--json") ? (args.splice(args.indexOf("--json"), 1), true) : false;
const modules = args.length ? args : [`${root}/target/wasm32-unknown-unknown/release/tollgate.wasm`];
const floorWasm = process.env.FLOOR_WASM || `${root}/target/wasm32-unknown-unknown/release/floor_filter.wasm`;

const SECRET = "bench-secret";
const enc = new TextEncoder();
const dec = new TextDecoder();
const rule = { http_method: "GET", pattern: "/", metric_system_name: "hits", delta: 1 };
const hosts = ["127.0.0.1", "localhost"];
const apikeyConfig = {
  backend: { cluster: "backend", authority: "mock-3scale", timeout_ms: 1000 },
  services: [{
    id: 1,
    authentication: { mode: "local", api_keys: { header: "X-API-Key", keys: [{ id: "bench",
      hash: "sha256:8ce982f2856ca828bf4be45945df357f8764b61044f9b90fb03be44ae5381674" }] } },
    proxy: { hosts, proxy_rules: [rule] },
  }],
};
const threescaleService = (id, rules) => ({
  id, backend_version: 1, backend_authentication_type: "service_token",
  backend_authentication_value: "bench-service-token",
  proxy: { hosts, credentials_location: "headers", auth_user_key: "user_key", secret_token: SECRET,
    proxy_rules: rules },
});
const batching = { caching_type: "resilient", batching: { auths_ttl: 10, batch_report_seconds: 2 } };
const manyRules = (n) => {
  const out = [];
  for (let i = 0; out.length < n; i++) {
    for (const m of ["GET", "POST", "PUT", "DELETE"]) {
      out.push({ http_method: m, pattern: `/resource${i}/{id}/items`, metric_system_name: "hits", delta: 1 });
    }
  }
  out.length = n - 1;
  out.push(rule);
  return out;
};

// The API key whose hash is in `apikeyConfig` (bench/run.py's key).
const API_KEY = process.env.BENCH_API_KEY || "bench_4f1c9a7e2b6d8053a1e7c9f2d4b6a8e0";
const request = (extra) => [
  [":authority", "127.0.0.1"], [":path", "/"], [":method", "GET"], [":scheme", "http"],
  ...extra,
  ["x-forwarded-proto", "http"], ["x-request-id", "5a6e7b0c-4a43-4e0f-9a8a-1c3b2d4e5f60"],
];
// As wrk replays its requests: each header set is built once, then sent in rotation.
const rotation = (n, extra) => {
  const sets = Array.from({ length: n }, (_, i) => request(extra(i)));
  return (i) => sets[i % n];
};
const userKeys = () => rotation(10, (i) => [["user_key", `bench-key-${i}`]]);
// A `POST` whose body is read as it streams (multipart or JSON, for a `_method`): 64 KiB in
// 16 KiB chunks, each passed on as it arrives (the cache forwarded the request at its headers).
const BODY_KB = 64, CHUNK_KB = 16;
const postRule = { ...rule, http_method: "POST" };
// The same header sets (built once, as `rotation`'s) with `:method` POST.
const posts = (headers) => {
  const sets = Array.from({ length: 10 }, (_, i) => headers(i).map(([k, v]) => [k, k === ":method" ? "POST" : v]));
  return (i) => sets[i % 10];
};
const multipartBody = () => {
  // A file upload: bytes of every value, with the part headers an upload has.
  const file = new Uint8Array(BODY_KB * 1024 - 200);
  let x = 2463534242;
  for (let i = 0; i < file.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; file[i] = x & 255; }
  const head = enc.encode("--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.bin\"\r\n"
    + "Content-Type: application/octet-stream\r\n\r\n");
  return Uint8Array.from([...head, ...file, ...enc.encode("\r\n--XyZ--\r\n")]);
};
const jsonBody = () => {
  // An API payload: an array of small objects with keys and string, number and bool values.
  const items = [];
  for (let i = 0; JSON.stringify(items).length < BODY_KB * 1024 - 120; i++) {
    items.push({ id: i, name: `item ${i}`, description: "a line of ordinary text in a payload", price: i * 1.5, active: i % 2 === 0 });
  }
  return enc.encode(JSON.stringify({ items }));
};
const bodyPath = (contentType, body) => ({
  config: { backend: { cluster: "backend", authority: "mock-3scale", timeout_ms: 1000, ...batching },
    services: [threescaleService("batched", [rule, postRule])] },
  headers: posts(rotation(10, (i) => [["user_key", `bench-key-${i}`], ["content-type", contentType]])),
  body,
});
const PATHS = {
  floor: { wasm: "floor", config: null, headers: userKeys() },
  apikey: { config: apikeyConfig, headers: rotation(1, () => [["x-api-key", API_KEY]]), noSecret: true },
  "3scale-batched": {
    config: { backend: { cluster: "backend", authority: "mock-3scale", timeout_ms: 1000, ...batching },
      services: [threescaleService("batched", [rule])] },
    headers: userKeys(),
  },
  "3scale-batched-1000rules": {
    config: { backend: { cluster: "backend", authority: "mock-3scale", timeout_ms: 1000, ...batching },
      services: [threescaleService("batched", manyRules(1000))] },
    headers: userKeys(),
  },
  "3scale-batched-multipart-64k": bodyPath("multipart/form-data; boundary=XyZ", multipartBody()),
  "3scale-batched-json-64k": bodyPath("application/json", jsonBody()),
  authrep: {
    config: { backend: { cluster: "backend", authority: "mock-3scale", timeout_ms: 1000 },
      services: [threescaleService("authrep", [rule])] },
    headers: rotation(1, () => [["user_key", "bench-key-0"]]),
  },
};

const AUTHORIZED = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><status><authorized>true</authorized><plan>Bench</plan></status>";
const MAPS = { 0: "request", 1: "request trailers", 2: "response", 3: "response trailers", 6: "call response" };
const BUFFERS = { 0: "request body", 4: "call response body", 7: "plugin configuration" };

// One module instance with its host state: the proxy-wasm host Envoy would be.
async function instantiate(path, config) {
  const calls = Object.create(null);
  const count = (name) => { calls[name] = (calls[name] || 0) + 1; };
  let ex, mem;
  const u8 = () => new Uint8Array(mem.buffer);
  const dv = () => new DataView(mem.buffer);
  const str = (p, n) => dec.decode(u8().subarray(p, p + n));
  const give = (bytes, dataPtr, sizePtr) => {
    count("(host calls malloc)");
    const p = ex.malloc(bytes.length);
    u8().set(bytes, p);
    dv().setUint32(dataPtr, p, true);
    dv().setUint32(sizePtr, bytes.length, true);
  };
  // Envoy serialises its map in C++; here the bytes of a map are built once per map version,
  // so the host's own cost stays small next to the module's (the floor reads one value).
  const encoded = new Map();
  const bytesOf = (text) => {
    let b = encoded.get(text);
    if (!b) { b = enc.encode(text); encoded.set(text, b); }
    return b;
  };
  const serialized = new WeakMap();
  const serialize = (pairs) => {
    const cached = serialized.get(pairs);
    if (cached) return cached;
    const parts = pairs.map(([k, v]) => [bytesOf(k), bytesOf(v)]);
    let size = 4 + parts.length * 8;
    for (const [k, v] of parts) size += k.length + v.length + 2;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint32(0, parts.length, true);
    let at = 4 + parts.length * 8;
    parts.forEach(([k, v], i) => {
      view.setUint32(4 + i * 8, k.length, true);
      view.setUint32(8 + i * 8, v.length, true);
      out.set(k, at); at += k.length + 1;
      out.set(v, at); at += v.length + 1;
    });
    serialized.set(pairs, out);
    return out;
  };
  const deserialize = (p, n) => {
    const view = dv();
    const count = view.getUint32(p, true);
    const out = [];
    let at = p + 4 + count * 8;
    for (let i = 0; i < count; i++) {
      const k = view.getUint32(p + 4 + i * 8, true), v = view.getUint32(p + 8 + i * 8, true);
      out.push([str(at, k), str(at + k + 1, v)]);
      at += k + v + 2;
    }
    return out;
  };
  const host = {
    now: 1_700_000_000_000_000_000n,
    maps: { 0: [], 2: [], 6: [] },
    buffers: { 7: config ? enc.encode(JSON.stringify(config)) : new Uint8Array(0), 4: new Uint8Array(0) },
    shared: new Map(), cas: 1,
    queue: [], pendingCalls: [], nextToken: 1, reply: null, continued: false, effective: 0,
  };
  const mapOf = (t) => host.maps[t] || (host.maps[t] = []);
  const env = {
    proxy_log: (level, p, n) => { count("log"); if (level >= 3) console.error(`[wasm ${level}] ${str(p, n)}`); return 0; },
    proxy_get_log_level: (p) => { count("get_log_level"); dv().setUint32(p, 2, true); return 0; },
    // WASI, as Envoy links it into every module (Tollgate seeds its hash maps with it).
    random_get: (p, n) => { count("random_get"); crypto.getRandomValues(u8().subarray(p, p + n)); return 0; },
    proxy_get_current_time_nanoseconds: (p) => { count("get_current_time"); dv().setBigUint64(p, host.now, true); return 0; },
    proxy_set_tick_period_milliseconds: () => { count("set_tick_period"); return 0; },
    proxy_get_buffer_bytes: (t, start, max, dp, sp) => {
      count(`get_buffer(${BUFFERS[t] || t})`);
      const b = host.buffers[t];
      if (!b) return 1;
      give(b.subarray(start >>> 0, (start >>> 0) + (max >>> 0)), dp, sp);
      return 0;
    },
    proxy_set_buffer_bytes: () => { count("set_buffer"); return 0; },
    proxy_get_header_map_pairs: (t, dp, sp) => { count(`get_header_map(${MAPS[t] || t})`); give(serialize(mapOf(t)), dp, sp); return 0; },
    proxy_set_header_map_pairs: () => { count("set_header_map"); return 0; },
    proxy_get_header_map_value: (t, kp, kn, dp, sp) => {
      count(`get_header(${MAPS[t] || t})`);
      const k = str(kp, kn).toLowerCase();
      const found = mapOf(t).find(([n]) => n === k);
      if (!found) return 1;
      give(bytesOf(found[1]), dp, sp);
      return 0;
    },
    proxy_replace_header_map_value: (t, kp, kn, vp, vn) => {
      count(`replace_header(${MAPS[t] || t})`);
      const k = str(kp, kn).toLowerCase(), v = str(vp, vn);
      const m = mapOf(t).filter(([n]) => n !== k);
      m.push([k, v]);
      host.maps[t] = m;
      return 0;
    },
    proxy_add_header_map_value: (t, kp, kn, vp, vn) => { count(`add_header(${MAPS[t] || t})`); host.maps[t] = [...mapOf(t), [str(kp, kn).toLowerCase(), str(vp, vn)]]; return 0; },
    proxy_remove_header_map_value: (t, kp, kn) => {
      count(`remove_header(${MAPS[t] || t})`);
      const k = str(kp, kn).toLowerCase();
      host.maps[t] = mapOf(t).filter(([n]) => n !== k);
      return 0;
    },
    proxy_get_property: (pp, pn, dp, sp) => { count(`get_property(${str(pp, pn).replace(/\0/g, ".")})`); return 1; },
    proxy_set_property: () => { count("set_property"); return 0; },
    proxy_get_shared_data: (kp, kn, dp, sp, cp) => {
      count("get_shared_data");
      const e = host.shared.get(str(kp, kn));
      if (!e) return 1;
      give(e.value, dp, sp);
      dv().setUint32(cp, e.cas, true);
      return 0;
    },
    proxy_set_shared_data: (kp, kn, vp, vn, cas) => {
      count("set_shared_data");
      const k = str(kp, kn), e = host.shared.get(k);
      if (cas !== 0 && e && e.cas !== cas) return 8;
      host.shared.set(k, { value: u8().slice(vp, vp + vn), cas: ++host.cas });
      return 0;
    },
    proxy_register_shared_queue: (np, nn, rp) => { count("register_shared_queue"); dv().setUint32(rp, 1, true); return 0; },
    proxy_dequeue_shared_queue: (q, dp, sp) => {
      count("dequeue_shared_queue");
      if (!host.queue.length) return 7;
      give(host.queue.shift(), dp, sp);
      return 0;
    },
    proxy_enqueue_shared_queue: (q, vp, vn) => { count("enqueue_shared_queue"); host.queue.push(u8().slice(vp, vp + vn)); return 0; },
    proxy_continue_stream: () => { count("continue_stream"); host.continued = true; return 0; },
    proxy_close_stream: () => { count("close_stream"); return 0; },
    proxy_send_local_response: (status, dp, dn, bp, bn) => {
      count("send_local_response");
      host.reply = { status, body: str(bp, bn) };
      return 0;
    },
    proxy_set_effective_context: (id) => { count("set_effective_context"); host.effective = id; return 0; },
    proxy_define_metric: (t, np, nn, rp) => { count("define_metric"); dv().setUint32(rp, ++host.cas, true); return 0; },
    proxy_increment_metric: () => { count("increment_metric"); return 0; },
    proxy_record_metric: () => { count("record_metric"); return 0; },
    proxy_get_metric: () => { count("get_metric"); return 1; },
    proxy_http_call: (up, un, hp, hn, bp, bn, tp, tn, timeout, rp) => {
      count("http_call");
      const token = host.nextToken++;
      host.pendingCalls.push({ token, headers: deserialize(hp, hn), context: host.effective });
      dv().setUint32(rp, token, true);
      return 0;
    },
    proxy_done: () => { count("done"); return 0; },
    proxy_get_status: () => { count("get_status"); return 1; },
    proxy_grpc_call: () => 1, proxy_grpc_stream: () => 1, proxy_grpc_send: () => 1,
    proxy_grpc_cancel: () => 1, proxy_grpc_close: () => 1,
    proxy_call_foreign_function: () => 1,
  };
  const module = new WebAssembly.Module(readFileSync(path));
  const imports = { env: {} };
  for (const i of WebAssembly.Module.imports(module)) {
    if (i.kind !== "function") continue;
    imports[i.module] ||= {};
    imports[i.module][i.name] = env[i.name] || (() => { throw new Error(`host call ${i.name} not simulated`); });
  }
  const instance = new WebAssembly.Instance(module, imports);
  ex = instance.exports;
  mem = ex.memory;
  if (ex._initialize) ex._initialize();
  if (ex._start) ex._start();
  const ROOT = 1;
  ex.proxy_on_context_create(ROOT, 0);
  if (!ex.proxy_on_vm_start(ROOT, 0)) throw new Error(`${path}: vm start refused`);
  const configSize = host.buffers[7].length;
  if (!ex.proxy_on_configure(ROOT, configSize)) throw new Error(`${path}: configuration refused`);
  let nextId = 2;

  // Answers every backend call in flight: authorize and authrep 200 (authorized), reports
  // (`POST /transactions.xml`) 202.
  const answerCalls = () => {
    while (host.pendingCalls.length) {
      const call = host.pendingCalls.shift();
      const p = (call.headers.find(([k]) => k === ":path") || [])[1] || "";
      const report = p.startsWith("/transactions.xml");
      // apisonator's content type on every answer: Tollgate reads any other as a proxy's page.
      host.maps[6] = [[":status", report ? "202" : "200"],
        ["content-type", "application/vnd.3scale-v2.0+xml"]];
      host.buffers[4] = report ? new Uint8Array(0) : enc.encode(AUTHORIZED);
      host.effective = call.context;
      ex.proxy_on_http_call_response(ROOT, call.token, 1, host.buffers[4].length, 0);
      // A worker's wake-up message to itself (one VM here) arrives as Envoy delivers it.
      if (host.queue.length) {
        host.effective = ROOT;
        ex.proxy_on_queue_ready(ROOT, 1);
      }
    }
  };
  const tick = () => { ex.proxy_on_tick(ROOT); answerCalls(); };

  // One request, as Envoy calls the filter; returns how it ended.
  const serve = (headers, body) => {
    const id = nextId++;
    host.maps[0] = headers;
    host.reply = null;
    host.continued = false;
    host.effective = id;
    ex.proxy_on_context_create(id, ROOT);
    const action = ex.proxy_on_request_headers(id, headers.length, body ? 0 : 1);
    if (action !== 0) {
      answerCalls();
      host.effective = id;
    }
    // The body in chunks, each the whole buffer Envoy hands over once the request went on.
    for (let at = 0; body && at < body.length && host.reply === null; at += CHUNK_KB * 1024) {
      const chunk = body.subarray(at, at + CHUNK_KB * 1024);
      host.buffers[0] = chunk;
      ex.proxy_on_request_body(id, chunk.length, at + chunk.length >= body.length ? 1 : 0);
    }
    const forwarded = host.reply === null && (action === 0 || host.continued);
    host.maps[2] = [[":status", host.reply ? String(host.reply.status) : "200"], ["content-length", "2"]];
    ex.proxy_on_response_headers(id, 2, 0);
    ex.proxy_on_log(id);
    ex.proxy_on_done(id);
    ex.proxy_on_delete(id);
    const secret = (host.maps[0].find(([k]) => k === "x-3scale-proxy-secret-token") || [])[1];
    return { forwarded, secret, reply: host.reply };
  };
  return { calls, serve, tick, advance: (ms) => { host.now += BigInt(ms) * 1_000_000n; } };
}

const stat = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
};

const selected = Object.keys(PATHS).filter((p) => !only || only.split(",").includes(p));
const subjects = [];
for (const name of selected) {
  const spec = PATHS[name];
  const paths = spec.wasm === "floor" ? [floorWasm] : modules;
  for (const [m, path] of paths.entries()) {
    const label = paths.length > 1 ? `${name} [${m}]` : name;
    const vm = await instantiate(path, spec.config);
    // Warm-up: fills caches (a batched miss per key), lets V8 tier the code up.
    for (let i = 0; i < 3000; i++) {
      const end = vm.serve(spec.headers(i), spec.body);
      if (!end.forwarded || (!spec.noSecret && end.secret !== SECRET)) {
        throw new Error(`${label}: request ${i} was not forwarded with the secret token: ${JSON.stringify(end)}`);
      }
      if (i % 500 === 0) { vm.advance(250); vm.tick(); }
    }
    subjects.push({ label, name, vm, spec, times: [], calls: null });
  }
}

const junk = new Uint32Array(coldKb * 256);
let junkSum = 0;
const evictCaches = () => {
  for (let i = 0; i < junk.length; i += 16) junkSum += junk[i]++;
};
// µs per request: this process's CPU time over the round, or each request timed alone (cold).
const timeRound = (s) => {
  if (!coldKb) {
    const t = process.cpuUsage();
    for (let i = 0; i < perRound; i++) s.vm.serve(s.spec.headers(served++), s.spec.body);
    const used = process.cpuUsage(t);
    return (used.user + used.system) / perRound;
  }
  let ns = 0n;
  for (let i = 0; i < perRound; i++) {
    evictCaches();
    const headers = s.spec.headers(served++);
    const t0 = process.hrtime.bigint();
    s.vm.serve(headers, s.spec.body);
    ns += process.hrtime.bigint() - t0;
  }
  return Number(ns) / 1000 / perRound;
};

let served = 0;
for (let r = 0; r < rounds; r++) {
  for (const s of subjects) {
    const before = { ...s.vm.calls };
    s.times.push(timeRound(s));
    if (r === 0) {
      s.calls = Object.fromEntries(Object.entries(s.vm.calls)
        .map(([k, v]) => [k, (v - (before[k] || 0)) / perRound]).filter(([, v]) => v > 0));
    }
    s.vm.advance(250);
    s.vm.tick();
  }
}

const results = subjects.map((s) => {
  const t = stat(s.times);
  const hostCalls = Object.fromEntries(Object.entries(s.calls).filter(([k]) => !k.startsWith("(")));
  return {
    path: s.label, us_median: t.median, us_min: t.min, us_max: t.max,
    host_calls: Object.values(hostCalls).reduce((a, b) => a + b, 0),
    calls: hostCalls, buffers_allocated: s.calls["(host calls malloc)"] || 0,
    ...(s.spec.body ? { body_bytes: s.spec.body.length } : {}),
  };
});
if (json) {
  console.log(JSON.stringify({ node: process.version, rounds, requests_per_round: perRound, cold_kb: coldKb, results }));
} else {
  const measure = coldKb ? `µs per request with the caches cold (${coldKb} KiB walked before each)` : "µs of CPU per request";
  console.log(`V8 (Node ${process.version}), ${measure} (median, min–max of ${rounds} rounds of ${perRound}), host calls per request:`);
  for (const r of results) {
    const which = Object.entries(r.calls).map(([k, v]) => (v === 1 ? k : `${k} x${+v.toFixed(2)}`)).join(", ");
    console.log(`${r.path.padEnd(30)} ${r.us_median.toFixed(2).padStart(6)} µs (${r.us_min.toFixed(2)}–${r.us_max.toFixed(2)})  ${(+r.host_calls.toFixed(2)).toString().padStart(5)} calls: ${which}`);
  }
}
if (!json) {
  // The body readers' speed: a body path's time beyond the cached path's without a body.
  const base = results.find((r) => r.path === "3scale-batched");
  for (const r of results.filter((r) => r.body_bytes && base && r.us_median > base.us_median)) {
    console.log(`${r.path}: body read at ${(r.body_bytes / (r.us_median - base.us_median)).toFixed(0)} MB/s`);
  }
}
