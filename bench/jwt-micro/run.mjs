// Times each case of the JWT micro-benchmark in Node's V8 (the engine Envoy embeds):
// median and minimum of 21 rounds, µs per check. Usage: node run.mjs [module.wasm]
import { readFileSync } from "node:fs";

const path = process.argv[2] ?? new URL("./target/wasm32-unknown-unknown/release/jwt_micro.wasm", import.meta.url);
const { instance } = await WebAssembly.instantiate(readFileSync(path), {});
const run = instance.exports.bench_run;
const names = [
  "RS256 verify (valid)", "RS256 verify (forged)", "ES256 verify (valid)", "ES256 verify (forged)",
  "HS256 verify (valid: parsing, claims, HMAC)", "p256 0.13 verify_prehash (raw)",
  "p256 0.14 verify_prehash (raw)", "ES256 key parse (JWKS with one EC key)",
];
const only = process.argv[3] === undefined ? null : Number(process.argv[3]);
for (let c = 0; c < names.length; c++) {
  if (only !== null && only !== c) continue;
  const iters = c === 4 ? 2000 : 50;
  const ok = run(c, 20); // warm-up: lets V8 tier the code up
  const rounds = [];
  for (let r = 0; r < 21; r++) {
    const t = process.hrtime.bigint();
    run(c, iters);
    rounds.push(Number(process.hrtime.bigint() - t) / 1000 / iters);
  }
  rounds.sort((a, b) => a - b);
  console.log(`${names[c].padEnd(45)} median ${rounds[10].toFixed(1).padStart(8)} µs  min ${rounds[0].toFixed(1).padStart(8)} µs  (ok ${ok}/20)`);
}
