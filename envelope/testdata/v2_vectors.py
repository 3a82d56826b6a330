#!/usr/bin/env python3
"""Regenerate v2_vectors.json: test vectors for Ratatoskr signature v2 and the
signed-response digest (docs/PROTOCOL.md, "Signature v2" and "Signed responses").

Computed from the text of docs/PROTOCOL.md only, independently of the Go code:
digests with Python's hashlib/struct, Ed25519 keys and signatures with the
openssl command-line tool (`openssl pkey -pubout`, `openssl pkeyutl -sign -rawin`),
each signature re-checked with `openssl pkeyutl -verify -rawin`.

Usage:
    python3 v2_vectors.py              # writes v2_vectors.json beside this file
    python3 v2_vectors.py --markdown   # also prints the PROTOCOL.md tables to stdout

Needs python3 (standard library only) and openssl (>= 1.1.1, for Ed25519 and
-rawin) in PATH. Ed25519 signatures are deterministic, so the output is too.
"""

import hashlib
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "v2_vectors.json")

# DER header of an Ed25519 PKCS#8 PrivateKeyInfo (RFC 8410); the 32-byte seed follows.
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")

MESSAGE_TYPES = {
    0: "UNKNOWN",
    1: "CONNECTION_REQUEST",
    2: "CONNECTION_RESPONSE",
    3: "BUSINESS_REQUEST",
    4: "HEARTBEAT",
    5: "DISCONNECT",
    6: "ERROR",
}

REQUEST_CONTEXT = b"ratatoskr/request/v2" + b"\x00"    # 21 bytes
RESPONSE_CONTEXT = b"ratatoskr/response/v1" + b"\x00"  # 22 bytes
assert len(REQUEST_CONTEXT) == 21 and len(RESPONSE_CONTEXT) == 22

DEVICE_SEED = bytes(range(0x00, 0x20))            # 000102...1f (v1 test vector 1's key)
SERVER_SEED = bytes(range(0x1F, -1, -1))          # 1f1e1d...00
assert len(DEVICE_SEED) == 32 and len(SERVER_SEED) == 32


# ---------------------------------------------------------------- encoding

def be32(n):
    """4-byte big-endian two's complement of a 32-bit integer."""
    return struct.pack(">i", n)


def be64(n):
    """8-byte big-endian two's complement of a 64-bit integer."""
    return struct.pack(">q", n)


def lp(x):
    """LP(x) = BE32(len(x)) || x, length in bytes."""
    return be32(len(x)) + x


def utf8(s):
    return s.encode("utf-8")


def sha256(b):
    return hashlib.sha256(b).digest()


def metadata_parts(metadata):
    """BE32(count) then, in ascending byte order of the keys, LP(key) || LP(value)."""
    enc = [(utf8(k), utf8(v)) for k, v in metadata]
    keys = [k for k, _ in enc]
    assert len(set(keys)) == len(keys), "metadata keys must be unique"
    parts = [("BE32(number of metadata entries)", be32(len(enc)))]
    for k, v in sorted(enc, key=lambda kv: kv[0]):  # bytes compare lexicographically, unsigned
        parts.append(('LP(key "%s")' % k.decode("utf-8"), lp(k)))
        parts.append(('LP(value "%s")' % v.decode("utf-8"), lp(v)))
    return parts


def request_v2_parts(message_type, request_id, device_id, user_id, timestamp, nonce, payload, metadata):
    parts = [
        ('"ratatoskr/request/v2" || 00', REQUEST_CONTEXT),
        ("BE32(message_type)", be32(message_type)),
        ("LP(request_id)", lp(utf8(request_id))),
        ("LP(device_id)", lp(utf8(device_id))),
        ("LP(user_id)", lp(utf8(user_id))),
        ("BE64(timestamp)", be64(timestamp)),
        ("LP(nonce)", lp(nonce)),
        ("SHA-256(payload)", sha256(payload)),
    ]
    return parts + metadata_parts(metadata)


def request_v1_digest(request_id, device_id, user_id, timestamp, nonce, payload):
    return sha256(utf8(request_id) + utf8(device_id) + utf8(user_id) + be64(timestamp) + nonce + payload)


def response_parts(session_id, request_digest, message_type, request_id, timestamp, success,
                   error_code, error_message, payload, metadata):
    assert len(request_digest) == 32
    parts = [
        ('"ratatoskr/response/v1" || 00', RESPONSE_CONTEXT),
        ("LP(session_id)", lp(utf8(session_id))),
        ("request_digest", request_digest),
        ("BE32(message_type)", be32(message_type)),
        ("LP(request_id)", lp(utf8(request_id))),
        ("BE64(timestamp)", be64(timestamp)),
        ("success", b"\x01" if success else b"\x00"),
        ("LP(error_code)", lp(utf8(error_code))),
        ("LP(error_message)", lp(utf8(error_message))),
        ("SHA-256(payload)", sha256(payload)),
    ]
    return parts + metadata_parts(metadata)


# ---------------------------------------------------------------- openssl

def _openssl(args, stdin=None):
    return subprocess.run(["openssl"] + args, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True).stdout


def openssl_version():
    return _openssl(["version"]).decode().strip()


class Key:
    """An Ed25519 key held by openssl, built from a raw 32-byte seed."""

    def __init__(self, seed, tmpdir, name):
        assert len(seed) == 32
        self.seed = seed
        der = PKCS8_ED25519_PREFIX + seed
        self.pem_path = os.path.join(tmpdir, name + ".pem")
        with open(os.path.join(tmpdir, name + ".der"), "wb") as f:
            f.write(der)
        _openssl(["pkey", "-inform", "DER", "-in", os.path.join(tmpdir, name + ".der"),
                  "-out", self.pem_path])
        pub_der = _openssl(["pkey", "-in", self.pem_path, "-pubout", "-outform", "DER"])
        # SubjectPublicKeyInfo: 302a300506032b6570032100 || 32-byte key
        assert pub_der[:12] == bytes.fromhex("302a300506032b6570032100"), pub_der.hex()
        self.public = pub_der[-32:]
        self.pub_pem_path = os.path.join(tmpdir, name + ".pub.pem")
        with open(self.pub_pem_path, "wb") as f:
            f.write(_openssl(["pkey", "-in", self.pem_path, "-pubout"]))
        self.tmpdir = tmpdir

    def key_id(self):
        return sha256(self.public)[:8].hex()

    def sign(self, msg):
        """Pure Ed25519 over msg (here: the 32 digest bytes)."""
        path = os.path.join(self.tmpdir, "msg.bin")
        with open(path, "wb") as f:
            f.write(msg)
        sig = _openssl(["pkeyutl", "-sign", "-rawin", "-inkey", self.pem_path, "-in", path])
        assert len(sig) == 64
        sig_path = os.path.join(self.tmpdir, "sig.bin")
        with open(sig_path, "wb") as f:
            f.write(sig)
        out = _openssl(["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", self.pub_pem_path,
                        "-in", path, "-sigfile", sig_path])
        assert b"Signature Verified Successfully" in out, out
        return sig


# ---------------------------------------------------------------- vectors

def hexpairs(metadata):
    return [[utf8(k).hex(), utf8(v).hex()] for k, v in metadata]


def string_field(d, name, value):
    d[name] = value
    d[name + "_hex"] = utf8(value).hex()


def request_entry(name, description, key, message_type, request_id, device_id, user_id,
                  timestamp, nonce, payload, metadata, sign=True):
    parts = request_v2_parts(message_type, request_id, device_id, user_id, timestamp, nonce,
                             payload, metadata)
    pre = b"".join(p for _, p in parts)
    digest = sha256(pre)
    e = {"name": name, "description": description}
    if key is not None:
        e["seed_hex"] = key.seed.hex()
        e["public_key_hex"] = key.public.hex()
    e["message_type"] = message_type
    e["message_type_name"] = MESSAGE_TYPES[message_type]
    string_field(e, "request_id", request_id)
    string_field(e, "device_id", device_id)
    string_field(e, "user_id", user_id)
    e["timestamp"] = timestamp
    e["timestamp_be64_hex"] = be64(timestamp).hex()
    e["nonce_hex"] = nonce.hex()
    e["payload_hex"] = payload.hex()
    e["payload_sha256_hex"] = sha256(payload).hex()
    e["metadata"] = [[k, v] for k, v in metadata]
    e["metadata_hex"] = hexpairs(metadata)
    e["preimage_parts"] = [[label, p.hex()] for label, p in parts]
    e["preimage_hex"] = pre.hex()
    e["preimage_len"] = len(pre)
    e["digest_v2_hex"] = digest.hex()
    e["digest_v1_hex"] = request_v1_digest(request_id, device_id, user_id, timestamp, nonce,
                                           payload).hex()
    if sign:
        e["signature_hex"] = key.sign(digest).hex()
    return e


def response_entry(name, description, key, session_id, request_digest, message_type, request_id,
                   timestamp, success, error_code, error_message, payload, metadata):
    parts = response_parts(session_id, request_digest, message_type, request_id, timestamp,
                           success, error_code, error_message, payload, metadata)
    pre = b"".join(p for _, p in parts)
    digest = sha256(pre)
    e = {"name": name, "description": description,
         "server_seed_hex": key.seed.hex(),
         "server_public_key_hex": key.public.hex(),
         "server_key_id": key.key_id()}
    string_field(e, "session_id", session_id)
    e["request_digest_hex"] = request_digest.hex()
    e["message_type"] = message_type
    e["message_type_name"] = MESSAGE_TYPES[message_type]
    string_field(e, "request_id", request_id)
    e["timestamp"] = timestamp
    e["timestamp_be64_hex"] = be64(timestamp).hex()
    e["success"] = success
    string_field(e, "error_code", error_code)
    string_field(e, "error_message", error_message)
    e["payload_hex"] = payload.hex()
    e["payload_sha256_hex"] = sha256(payload).hex()
    e["metadata"] = [[k, v] for k, v in metadata]
    e["metadata_hex"] = hexpairs(metadata)
    e["preimage_parts"] = [[label, p.hex()] for label, p in parts]
    e["preimage_hex"] = pre.hex()
    e["preimage_len"] = len(pre)
    e["digest_hex"] = digest.hex()
    e["signature_hex"] = key.sign(digest).hex()
    return e


def build(tmpdir):
    device = Key(DEVICE_SEED, tmpdir, "device")
    server = Key(SERVER_SEED, tmpdir, "server")

    # Self-check against v1 test vectors 1 and 2 of docs/PROTOCOL.md (same tools).
    assert device.public.hex() == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    v1 = request_v1_digest("req-0001", "device-1", "user-1", 1700000000, bytes(range(16)), b"hello")
    assert v1.hex() == "2662d4d2089dca33e3f3a9d382e262f7deb93f887161be3e8c3da9521c81a8c7"
    assert device.sign(v1).hex() == (
        "7ff6a5a6f4b2d36693c265e75dd9c0d106df376693e5426abbd012882bd18534"
        "f499b61d0060b8fb5fad022ee7120c4004cc4905eddb9fe72b4158c79ff81e0e")
    assert request_v1_digest("r", "d", "u", -1, bytes(8), b"").hex() == \
        "961b572a295ae32e9f0734f07c35c3378807cbecee9334a272b8455406755940"

    req1 = request_entry(
        "v2-1", "v1 test vector 1's inputs as a BUSINESS_REQUEST with two metadata entries "
        "(hashed in ascending byte order of the keys: service, then trace)",
        device, 3, "req-0001", "device-1", "user-1", 1700000000, bytes(range(16)), b"hello",
        [("service", "echo"), ("trace", "t-1")])
    req2 = request_entry(
        "v2-2", "edge case: HEARTBEAT, one-byte ids, negative timestamp, eight zero bytes of "
        "nonce, empty payload, no metadata (count 0)",
        device, 4, "r", "d", "u", -1, bytes(8), b"", [])
    req3 = request_entry(
        "v2-3", "CONNECTION_REQUEST announcing sig.scheme = v2; payload is the protobuf "
        "ConnectionRequestPayload{version: \"1\"} (1a 01 31)",
        device, 1, "req-0000", "device-1", "user-1", 1700000000, bytes(range(0x10, 0x20)),
        bytes.fromhex("1a0131"), [("sig.scheme", "v2")])

    moved = [
        request_entry("moved-a", 'request_id "ab", device_id "c"; other fields as v2-2',
                      None, 4, "ab", "c", "u", -1, bytes(8), b"", [], sign=False),
        request_entry("moved-b", 'request_id "a", device_id "bc"; other fields as v2-2',
                      None, 4, "a", "bc", "u", -1, bytes(8), b"", [], sign=False),
    ]
    assert moved[0]["digest_v1_hex"] == moved[1]["digest_v1_hex"]
    assert moved[0]["digest_v2_hex"] != moved[1]["digest_v2_hex"]

    resp1 = response_entry(
        "resp-1", "successful BUSINESS_REQUEST response answering request v2-1",
        server, "sess-1", bytes.fromhex(req1["digest_v2_hex"]), 3, "req-0001", 1700000001,
        True, "", "", b"hello", [("echoed", "yes")])
    resp2 = response_entry(
        "resp-2", "ERROR answering a frame that does not decode (request_digest is 32 zero bytes)",
        server, "sess-1", bytes(32), 6, "", 1700000002, False, "MALFORMED",
        "request is not a valid RatatoskrRequest", b"", [])

    source = (
        "Computed from the text of docs/PROTOCOL.md, independently of the Go code, by "
        "envelope/testdata/v2_vectors.py: digests with Python %s hashlib and struct; Ed25519 keys "
        "built from raw seeds as PKCS#8 (DER prefix 302e020100300506032b657004220420 || seed), public "
        "keys with `openssl pkey -pubout -outform DER` (last 32 bytes), signatures with "
        "`openssl pkeyutl -sign -rawin` (pure Ed25519 over the 32 digest bytes) and re-checked with "
        "`openssl pkeyutl -verify -rawin`, %s. The same script reproduces v1 test vectors 1 and 2 "
        "(digests, public key and signature) before computing these. Byte strings and the bytes of "
        "every string field are lowercase hex; metadata is listed in the order given (not sorted); "
        "preimage_parts is the pre-image cut field by field; digest_v1_hex is the v1 digest of the same "
        "fields, for comparison."
        % (platform.python_version(), openssl_version()))

    return {
        "source": source,
        "request_v2": [req1, req2, req3],
        "response": [resp1, resp2],
        "moved_bytes": {
            "description": "v2 tells request_id \"ab\" + device_id \"c\" from request_id \"a\" + "
                           "device_id \"bc\" (their v1 digests are equal, their v2 digests differ)",
            "cases": moved,
        },
    }


# ---------------------------------------------------------------- markdown

def wrap_hex(h, width=64):
    return [h[i:i + width] for i in range(0, len(h), width)] or [""]


def md_parts(e):
    lines = ["```"]
    for label, h in e["preimage_parts"]:
        chunks = wrap_hex(h)
        for i, c in enumerate(chunks):
            lines.append("%-64s  %s" % (c, label if i == 0 else ""))
    lines.append("```")
    return [l.rstrip() for l in lines]


def md_str(s):
    return "`%s` (`%s`)" % (s, utf8(s).hex()) if s else "empty"


def md_meta(meta):
    if not meta:
        return "none (count 0)"
    return ", ".join("`%s` = `%s`" % (k, v) for k, v in meta)


def markdown(doc, source_short):
    r1, r2, r3 = doc["request_v2"]
    m = doc["moved_bytes"]["cases"]
    s1, s2 = doc["response"]
    out = []
    out += ["### Test vectors (v2)", ""]
    out += ["#### Test vector v2-1", "",
            "The inputs of v1 test vector 1, as a `BUSINESS_REQUEST` with two metadata entries (hashed in",
            "ascending byte order of the keys: `service`, then `trace`):", "",
            "| field | value |", "| --- | --- |",
            "| Ed25519 seed (private key) | `%s` |" % r1["seed_hex"],
            "| public key | `%s` |" % r1["public_key_hex"],
            "| message_type | `3` (`BUSINESS_REQUEST`) |",
            "| request_id | %s |" % md_str(r1["request_id"]),
            "| device_id | %s |" % md_str(r1["device_id"]),
            "| user_id | %s |" % md_str(r1["user_id"]),
            "| timestamp | `%d` (BE64: `%s`) |" % (r1["timestamp"], r1["timestamp_be64_hex"]),
            "| nonce | `%s` (16 bytes) |" % r1["nonce_hex"],
            "| payload | `hello` (`%s`), SHA-256 `%s` |" % (r1["payload_hex"], r1["payload_sha256_hex"]),
            "| metadata | %s |" % md_meta(r1["metadata"]),
            "| digest_v2 | `%s` |" % r1["digest_v2_hex"],
            "| signature | `%s` |" % r1["signature_hex"],
            "",
            "The pre-image (%d bytes), field by field:" % r1["preimage_len"], ""]
    out += md_parts(r1)
    out += ["",
            "#### Test vector v2-2 (edge case)", "",
            "Same key. `HEARTBEAT` (`4`), request_id `r`, device_id `d`, user_id `u`, timestamp `-1` (BE64",
            "`ffffffffffffffff`), nonce eight zero bytes, empty payload (its SHA-256 is still hashed), no metadata",
            "(count `00000000`):", "",
            "| field | value |", "| --- | --- |",
            "| digest_v2 | `%s` |" % r2["digest_v2_hex"],
            "| signature | `%s` |" % r2["signature_hex"],
            "", "The pre-image (%d bytes):" % r2["preimage_len"], ""]
    out += md_parts(r2)
    out += ["",
            "#### Test vector v2-3 (connection request)", "",
            "Same key. A `CONNECTION_REQUEST` that announces v2:", "",
            "| field | value |", "| --- | --- |",
            "| message_type | `1` (`CONNECTION_REQUEST`) |",
            "| request_id | %s |" % md_str(r3["request_id"]),
            "| device_id | %s |" % md_str(r3["device_id"]),
            "| user_id | %s |" % md_str(r3["user_id"]),
            "| timestamp | `%d` (BE64: `%s`) |" % (r3["timestamp"], r3["timestamp_be64_hex"]),
            "| nonce | `%s` (16 bytes) |" % r3["nonce_hex"],
            "| payload | `%s` (`ConnectionRequestPayload{version: \"1\"}`), SHA-256 `%s` |"
            % (r3["payload_hex"], r3["payload_sha256_hex"]),
            "| metadata | %s |" % md_meta(r3["metadata"]),
            "| digest_v2 | `%s` |" % r3["digest_v2_hex"],
            "| signature | `%s` |" % r3["signature_hex"],
            "", "The pre-image (%d bytes):" % r3["preimage_len"], ""]
    out += md_parts(r3)
    out += ["",
            "#### Test vector v2-4 (moved bytes)", "",
            "The fields of v2-2, with request_id `ab` and device_id `c`, or request_id `a` and device_id `bc`.",
            "Both have the v1 digest `%s`;" % m[0]["digest_v1_hex"],
            "their v2 digests differ:", "",
            "| request_id, device_id | digest_v2 |", "| --- | --- |",
            "| `ab`, `c` | `%s` |" % m[0]["digest_v2_hex"],
            "| `a`, `bc` | `%s` |" % m[1]["digest_v2_hex"],
            "",
            source_short,
            "All of them, with every input in hex and the pre-images, are in `envelope/testdata/v2_vectors.json`,",
            "written by `envelope/testdata/v2_vectors.py`.",
            ""]
    resp = ["### Test vector (response)", "",
            "The server key, and a response answering test vector v2-1:", "",
            "| field | value |", "| --- | --- |",
            "| server Ed25519 seed (private key) | `%s` |" % s1["server_seed_hex"],
            "| server public key | `%s` |" % s1["server_public_key_hex"],
            "| key id | `%s` |" % s1["server_key_id"],
            "| session_id | %s |" % md_str(s1["session_id"]),
            "| request_digest | `%s` (digest_v2 of v2-1) |" % s1["request_digest_hex"],
            "| message_type | `3` (`BUSINESS_REQUEST`) |",
            "| request_id | %s |" % md_str(s1["request_id"]),
            "| timestamp | `%d` (BE64: `%s`) |" % (s1["timestamp"], s1["timestamp_be64_hex"]),
            "| success | true (`01`) |",
            "| error_code, error_message | empty, empty |",
            "| payload | `hello` (`%s`) |" % s1["payload_hex"],
            "| metadata | %s |" % md_meta(s1["metadata"]),
            "| response_digest | `%s` |" % s1["digest_hex"],
            "| signature | `%s` |" % s1["signature_hex"],
            "", "The pre-image (%d bytes):" % s1["preimage_len"], ""]
    resp += md_parts(s1)
    resp += ["",
             "A failed response with the same key: the `ERROR` (`6`) for a frame that does not decode, session_id",
             "`sess-1`, request_digest 32 zero bytes, empty request_id, timestamp `%d`, success false (`00`),"
             % s2["timestamp"],
             "error_code `MALFORMED`, error_message `%s`, empty payload, no" % s2["error_message"],
             "metadata:",
             "",
             "| field | value |", "| --- | --- |",
             "| response_digest | `%s` |" % s2["digest_hex"],
             "| signature | `%s` |" % s2["signature_hex"],
             "", "The pre-image (%d bytes):" % s2["preimage_len"], ""]
    resp += md_parts(s2)
    resp += ["",
             source_short,
             "They are in `envelope/testdata/v2_vectors.json`, written by `envelope/testdata/v2_vectors.py`.",
             ""]
    return "\n".join(out), "\n".join(resp)


def main():
    with tempfile.TemporaryDirectory() as tmpdir:
        doc = build(tmpdir)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=True)
        f.write("\n")
    if "--markdown" in sys.argv[1:]:
        short = ("The digests were computed with Python's `hashlib` and `struct`, the public keys with\n"
                 "`openssl pkey -pubout` and the signatures with `openssl pkeyutl -sign -rawin` (each re-checked\n"
                 "with `openssl pkeyutl -verify`), all independently of the Go code.")
        a, b = markdown(doc, short)
        print(a)
        print("=====")
        print(b)
    else:
        print("wrote", OUT)


if __name__ == "__main__":
    main()
