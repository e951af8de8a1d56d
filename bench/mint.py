"""Keys and tokens for the benchmark: HS256 (Python's hmac), RS256 and ES256 (openssl CLI).

Everything is minted once, ahead of the measurements, into a work directory:

    signers = mint_all(workdir, claims)   # {"HS256": Signer, "RS256": ..., "ES256": ...}
    signers["ES256"].jwks()               # {"keys": [public JWK]} for the filter's config
    signers["ES256"].token                # a valid compact JWS
    signers["ES256"].bad_token            # same header and signature, other claims: must fail

Only the Python standard library and the `openssl` command are used.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["openssl", *args], input=stdin, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"openssl {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
        )
    return result.stdout


def _ecdsa_der_to_raw(der: bytes, size: int = 32) -> bytes:
    """DER ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) to JWS r||s."""

    def read_len(buf: bytes, i: int) -> tuple[int, int]:
        first = buf[i]
        if first < 0x80:
            return first, i + 1
        n = first & 0x7F
        return int.from_bytes(buf[i + 1 : i + 1 + n], "big"), i + 1 + n

    if der[0] != 0x30:
        raise ValueError("ECDSA signature: expected a DER SEQUENCE")
    _, i = read_len(der, 1)
    parts = []
    for _ in range(2):
        if der[i] != 0x02:
            raise ValueError("ECDSA signature: expected a DER INTEGER")
        length, i = read_len(der, i + 1)
        value = der[i : i + length].lstrip(b"\x00")
        i += length
        if len(value) > size:
            raise ValueError("ECDSA signature: integer too large")
        parts.append(value.rjust(size, b"\x00"))
    return parts[0] + parts[1]


class Signer:
    """One key: its public JWK, a valid token and a tampered one."""

    def __init__(self, alg: str, kid: str, jwk: dict, sign, claims: dict):
        self.alg, self.kid, self.jwk, self._sign = alg, kid, jwk, sign
        self.token = self.sign_token(claims)
        # The valid token's header and signature over other claims: a forgery the filter must
        # refuse (403), proving the signature is really checked.
        header, _, signature = self.token.split(".")
        forged = dict(claims, sub="mallory")
        self.bad_token = f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"

    def sign_token(self, claims: dict) -> str:
        header = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        return signing_input + "." + b64url(self._sign(signing_input.encode("ascii")))

    def jwks(self) -> dict:
        return {"keys": [self.jwk]}


def hs256(secret: bytes, kid: str, claims: dict) -> Signer:
    if len(secret) < 32:
        raise ValueError("HS256 secrets must be at least 32 bytes")
    jwk = {"kty": "oct", "kid": kid, "alg": "HS256", "use": "sig", "k": b64url(secret)}
    return Signer(
        "HS256", kid, jwk, lambda m: hmac.new(secret, m, hashlib.sha256).digest(), claims
    )


def rs256(workdir: str, kid: str, claims: dict) -> Signer:
    key = os.path.join(workdir, f"{kid}.pem")
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
    modulus = _openssl("rsa", "-in", key, "-noout", "-modulus").decode().strip()
    text = _openssl("rsa", "-in", key, "-noout", "-text").decode()
    exponent = re.search(r"publicExponent:\s*(\d+)", text)
    if not modulus.startswith("Modulus=") or not exponent:
        raise RuntimeError("cannot read the RSA public key from openssl's output")
    n = bytes.fromhex(modulus.removeprefix("Modulus="))
    e = int(exponent.group(1))
    e_bytes = e.to_bytes((e.bit_length() + 7) // 8, "big")
    jwk = {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64url(n), "e": b64url(e_bytes)}
    # `openssl dgst -sign` with an RSA key is RSASSA-PKCS1-v1_5, which is RS256.
    return Signer(
        "RS256", kid, jwk, lambda m: _openssl("dgst", "-sha256", "-sign", key, stdin=m), claims
    )


def es256(workdir: str, kid: str, claims: dict) -> Signer:
    key = os.path.join(workdir, f"{kid}.pem")
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    spki = _openssl("pkey", "-in", key, "-pubout", "-outform", "DER")
    point = spki[-65:]  # the SPKI ends with the uncompressed point 04 || x || y
    if len(spki) != 91 or point[0] != 0x04:
        raise RuntimeError("unexpected P-256 SubjectPublicKeyInfo from openssl")
    jwk = {
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": b64url(point[1:33]), "y": b64url(point[33:65]),
    }
    return Signer(
        "ES256",
        kid,
        jwk,
        lambda m: _ecdsa_der_to_raw(_openssl("dgst", "-sha256", "-sign", key, stdin=m)),
        claims,
    )


def mint_all(workdir: str, claims: dict) -> dict[str, Signer]:
    """One signer per algorithm, keys written under workdir."""
    os.makedirs(workdir, exist_ok=True)
    return {
        "HS256": hs256(os.urandom(48), "bench-hs", claims),
        "RS256": rs256(workdir, "bench-rs", claims),
        "ES256": es256(workdir, "bench-es", claims),
    }


if __name__ == "__main__":
    import sys
    import time

    out = sys.argv[1] if len(sys.argv) > 1 else "target/bench/keys"
    demo = {"iss": "https://idp.bench", "aud": "bench-api", "sub": "bench", "exp": int(time.time()) + 3600}
    for alg, s in mint_all(out, demo).items():
        print(alg, json.dumps(s.jwks()))
        print(alg, s.token)
