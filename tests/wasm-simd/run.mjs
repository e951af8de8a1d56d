// Runs the SIMD check (src/lib.rs) in Node's V8, the engine Envoy embeds: exits 1 on any
// disagreement. Usage: node run.mjs path/to/tollgate_wasm_simd_check.wasm
import { readFileSync } from "node:fs";

const { instance } = await WebAssembly.instantiate(readFileSync(process.argv[2]), {});
const result = instance.exports.check();
const disagreements = Number(result >> 32n);
const tried = Number(result & 0xffffffffn);
console.log(`SIMD dot products: ${tried} inputs, ${disagreements} disagreeing with the scalar ones`);
process.exit(disagreements === 0 && tried > 0 ? 0 : 1);
