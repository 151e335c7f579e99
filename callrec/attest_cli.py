"""`callrec attest verify ATTESTATION --public-key PEM [--recording FILE_OR_S3]`: check a call's signed
attestation offline (the signature, with the stack's public key), and that a recording's bytes still hash
to it. `callrec attest public-key KEY_ARN`: export that public key (PEM) once, with kms:GetPublicKey.
Exit 0 when every finding holds, 1 when one does not, 2 when something cannot be read."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_LAYER = Path(__file__).resolve().parent.parent / "layer" / "python"
if str(_LAYER) not in sys.path:  # the attestation format lives in the shared layer, as the Lambda writes it
    sys.path.insert(0, str(_LAYER))

from callrec_shared import attestation  # noqa: E402


def add_parser(commands: argparse._SubParsersAction) -> None:
    attest = commands.add_parser("attest", help="check a call's signed attestation offline; export the public key")
    verbs = attest.add_subparsers(dest="verb", required=True)
    verify = verbs.add_parser("verify", help="check an attestation's signature, and optionally the recording's bytes")
    verify.add_argument("attestation", help="the attestation JSON: a file, or s3://bucket/key[?versionId=...]")
    verify.add_argument("--public-key", required=True, type=Path, help="the attestation key's public key (PEM or DER)")
    verify.add_argument("--recording", help="the recording: a file, or s3://bucket/key[?versionId=...]")
    export = verbs.add_parser("public-key", help="print the attestation key's public key as PEM (kms:GetPublicKey)")
    export.add_argument("key_id", help="the AttestationKeyArn output of the stack")


def _s3(location: str) -> tuple[object, dict]:
    import boto3

    bucket, _, rest = location[5:].partition("/")
    key, _, query = rest.partition("?versionId=")
    return boto3.client("s3"), {"Bucket": bucket, "Key": key, **({"VersionId": query} if query else {})}


def _pieces(location: str):
    """The bytes of a file or an S3 object (s3://bucket/key[?versionId=...]), in pieces of 1 MB."""
    if location.startswith("s3://"):
        s3, where = _s3(location)
        body = s3.get_object(**where)["Body"]
        yield from iter(lambda: body.read(1 << 20), b"")
        return
    with open(location, "rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")


def run(args: argparse.Namespace) -> int:
    if args.verb == "public-key":
        import boto3
        from cryptography.hazmat.primitives import serialization

        der = boto3.client("kms").get_public_key(KeyId=args.key_id)["PublicKey"]
        key = serialization.load_der_public_key(der)
        print(
            key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
            end="",
        )
        return 0
    try:
        signed = json.loads(b"".join(_pieces(args.attestation)))
        public_key = args.public_key.read_bytes()
        findings = attestation.check(signed, public_key, _pieces(args.recording) if args.recording else None)
    except Exception as err:  # noqa: BLE001 - an unreadable input is its own exit code
        print(f"callrec attest: cannot read: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    for finding in findings:
        print(f"{'PASS' if finding.ok else 'FAIL'}  {finding.name:<10} {finding.detail}")
    manifest = signed.get("manifest", {})
    print(f"session {manifest.get('sessionId')}: verdict {manifest.get('verdict')} at {manifest.get('verifiedAt')}")
    return 0 if all(f.ok for f in findings) else 1
