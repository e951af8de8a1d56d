// Writes fixtures.json for the JWT micro-benchmark: one RSA 2048 key, one P-256 key, one HS256
// secret, a JWKS and, per algorithm, a valid token and a forged one (valid claims, the
// signature of other claims). Run once; the file is committed so runs compare the same inputs.
import { generateKeyPairSync, createSign, createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";

const b64 = (buf) => Buffer.from(buf).toString("base64url");
const claims = { sub: "bench", iss: "https://idp.example", exp: 4102444800 };
const other = { ...claims, sub: "forged" };
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 65537 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const secret = Buffer.alloc(32, 7);

function token(alg, kid, payload, sign) {
  const input = `${b64(JSON.stringify({ alg, typ: "JWT", kid }))}.${b64(JSON.stringify(payload))}`;
  return `${input}.${b64(sign(input))}`;
}
const signers = {
  RS256: (input) => createSign("SHA256").update(input).sign(rsa.privateKey),
  ES256: (input) =>
    createSign("SHA256").update(input).sign({ key: ec.privateKey, dsaEncoding: "ieee-p1363" }),
  HS256: (input) => createHmac("sha256", secret).update(input).digest(),
};
const kids = { RS256: "rsa", ES256: "ec", HS256: "oct" };
const out = {
  jwks: {
    keys: [
      { ...rsa.publicKey.export({ format: "jwk" }), kid: "rsa", alg: "RS256", use: "sig" },
      { ...ec.publicKey.export({ format: "jwk" }), kid: "ec", alg: "ES256", use: "sig" },
      { kty: "oct", kid: "oct", k: b64(secret) },
    ],
  },
  now: 1764800000,
};
for (const alg of Object.keys(signers)) {
  const valid = token(alg, kids[alg], claims, signers[alg]);
  const forgedSig = token(alg, kids[alg], other, signers[alg]).split(".")[2];
  const [h, p] = valid.split(".");
  out[alg] = { valid, forged: `${h}.${p}.${forgedSig}` };
}
writeFileSync(new URL("./fixtures.json", import.meta.url), JSON.stringify(out, null, 1) + "\n");
