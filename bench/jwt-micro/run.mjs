// Times each case of the JWT micro-benchmark in Node's V8 (the engine Envoy embeds): median
// and minimum of 21 rounds, µs of CPU (this process's user + system time, so that other jobs
// on the machine count less) per check. With several modules (e.g. before and after a
// change), their rounds alternate, so a busy machine slows them alike.
// Usage: node run.mjs [a.wasm [b.wasm ...]] [--case N]
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const at = args.indexOf("--case");
const only = at >= 0 ? Number(args.splice(at, 2)[1]) : null;
const paths = args.length ? args : [new URL("./target/wasm32-unknown-unknown/release/jwt_micro.wasm", import.meta.url).pathname];
const runs = [];
for (const path of paths) {
  const { instance } = await WebAssembly.instantiate(readFileSync(path), {});
  runs.push(instance.exports.bench_run);
}
const names = [
  "RS256 verify (valid)", "RS256 verify (forged)", "ES256 verify (valid)", "ES256 verify (forged)",
  "HS256 verify (valid: parsing, claims, HMAC)", "p256 0.13 verify_prehash (raw)",
  "p256 0.14 verify_prehash (raw)", "ES256 key parse again (JWKS with one EC key)",
  "RS256 arithmetic: 10 Montgomery squarings (2048-bit)", "RS256 arithmetic: 10 Montgomery products (2048-bit)",
];
const stat = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[10].toFixed(1).padStart(8)} µs  min ${s[0].toFixed(1).padStart(8)} µs`;
};
for (let c = 0; c < names.length; c++) {
  if (only !== null && only !== c) continue;
  const iters = c === 4 ? 2000 : c === 7 ? 5 : 50;
  const oks = runs.map((run) => run(c, 20)); // warm-up: lets V8 tier the code up
  const rounds = runs.map(() => []);
  for (let r = 0; r < 21; r++) {
    runs.forEach((run, m) => {
      const t = process.cpuUsage();
      run(c, iters);
      const used = process.cpuUsage(t);
      rounds[m].push((used.user + used.system) / iters);
    });
  }
  runs.forEach((_, m) => {
    const label = runs.length > 1 ? `[${m}] ` : "";
    console.log(`${label}${names[c].padEnd(45)} ${stat(rounds[m])}  (ok ${oks[m]}/20)`);
  });
}
