"""A signed attestation per verified call: what was checked, on which exact object, with what result.

The manifest names the object (bucket, key, version id, ETag, size, SHA-256 of its bytes, KMS key), its
format, every check with its result, the windows as placed, the key presses heard (counts and times,
never digits), the verdict and the time. It is signed with the stack's KMS asymmetric key
(ECC_NIST_P256, ECDSA_SHA_256) and stored in the recording bucket under `attestations/`.

What KMS signs is a short statement naming the SHA-256 of the manifest's canonical JSON (sorted keys, no
spaces, UTF-8), so a manifest of any size is covered by one `kms:Sign` of a RAW message (RAW messages are
limited to 4096 bytes). Anyone holding the public key (`kms:GetPublicKey`, exported once) can check an
attestation offline, and, given the recording, that its bytes still hash to the manifest.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

VERSION = 1
ALGORITHM = "ECDSA_SHA_256"
PREFIX = "attestations/"


def canonical(value: object, default: Callable[[Any], Any] | None = None) -> bytes:
    """Canonical JSON: keys sorted, no spaces, UTF-8 (`default`: text for what JSON cannot hold)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default).encode("utf-8")


def statement(manifest: dict[str, Any]) -> bytes:
    """The message KMS signs: the manifest's digest, labelled with this format's version."""
    return f"callrec-attestation-v{VERSION}:sha256:{hashlib.sha256(canonical(manifest)).hexdigest()}".encode("ascii")


def manifest(session: dict[str, Any], verdict: dict[str, Any], at: str) -> dict[str, Any]:
    """The manifest of one verification. `verdict` is verification.check's dict; `session` the session record."""
    call = session.get("call", {})
    return {
        "version": VERSION,
        "sessionId": session["sessionId"],
        "provider": session["provider"],
        "call": {
            k: call[k] for k in ("InstanceId", "ContactId", "InitialContactId", "TransactionId", "CallId") if k in call
        },
        "recording": {k: verdict[k] for k in ("bucket", "key", "versionId", "etag", "size", "sha256", "kmsKeyId")},
        "format": verdict.get("format", {}),
        "checks": verdict["checks"],
        "windows": verdict.get("windows", []),
        "dtmf": verdict.get("dtmf", {}),
        "verdict": verdict["status"],
        "auditHead": session.get("auditHead", ""),
        "verifiedAt": at,
    }


def sign(document: dict[str, Any], kms: Any, key_id: str) -> dict[str, Any]:
    answer = kms.sign(KeyId=key_id, Message=statement(document), MessageType="RAW", SigningAlgorithm=ALGORITHM)
    return {
        "manifest": document,
        "signature": {
            "algorithm": ALGORITHM,
            "keyId": answer.get("KeyId", key_id),
            "value": base64.b64encode(answer["Signature"]).decode("ascii"),
        },
    }


def key_for(session_id: str) -> str:
    return f"{PREFIX}{session_id}.json"


def store(signed: dict[str, Any], s3: Any, bucket: str, kms_key_id: str) -> str:
    """Write the signed attestation beside the recordings; answer its s3:// location (with the version)."""
    key = key_for(signed["manifest"]["sessionId"])
    request = {
        "Bucket": bucket,
        "Key": key,
        "Body": json.dumps(signed, indent=2, sort_keys=True).encode("utf-8"),
        "ContentType": "application/json",
        "ServerSideEncryption": "aws:kms",
    }
    if kms_key_id:
        request["SSEKMSKeyId"] = kms_key_id
    version = s3.put_object(**request).get("VersionId")
    return f"s3://{bucket}/{key}" + (f"?versionId={version}" if version else "")


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str


def check(signed: dict[str, Any], public_key: bytes, recording: Iterable[bytes] | None = None) -> list[Finding]:
    """Offline: the signature over the manifest with `public_key` (PEM or DER), and, given the recording's
    bytes (in pieces), that they still hash to the manifest and have its size."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    findings = []
    try:
        key = (
            serialization.load_pem_public_key(public_key)
            if public_key.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(public_key)
        )
        signature = signed["signature"]
        if signature.get("algorithm") != ALGORITHM or not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError(f"expected an {ALGORITHM} signature and an EC public key")
        key.verify(base64.b64decode(signature["value"]), statement(signed["manifest"]), ec.ECDSA(hashes.SHA256()))
        findings.append(Finding("signature", True, f"{ALGORITHM} by {signature.get('keyId', '?')}"))
    except (InvalidSignature, ValueError, KeyError, TypeError) as err:
        findings.append(Finding("signature", False, f"does not verify: {type(err).__name__} {err}".strip()))
    if recording is not None:
        digest, size = hashlib.sha256(), 0
        for piece in recording:
            digest.update(piece)
            size += len(piece)
        want = signed.get("manifest", {}).get("recording", {})
        same = digest.hexdigest() == want.get("sha256") and size == want.get("size")
        findings.append(
            Finding(
                "recording",
                same,
                f"{size} bytes, sha256 {digest.hexdigest()}"
                + ("" if same else f"; the manifest says {want.get('size')} bytes, sha256 {want.get('sha256')}"),
            )
        )
    return findings
