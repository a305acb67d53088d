#!/usr/bin/env python3
"""Create the hub's audit and witness key files once, before any API process or worker starts.

Every hub process must sign with the same two keys, so they are made once (by the compose file's ``migrate``
service, or by an operator before creating the Kubernetes Secret) and then only read. The files are made exactly as
the hub would make them itself (``hub.audit.trail.load_or_create_key``: PKCS#8 PEM, mode 0600, ``<file>.pub`` beside
it); an existing file is never replaced. Paths and the hub's name come from the usual ``TRACSEQ_HUB_*`` settings.

    TRACSEQ_HUB_AUDIT_KEY_FILE=./audit.key TRACSEQ_HUB_WITNESS_KEY_FILE=./witness.key python deploy/hub_keys.py

Prints each key's public (verifier) key: the audit key verifies the hub's audit trail, the witness key the hub's
cosignatures on edge logs (what ``tracseq edge trust`` puts in an auditor's trust file).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    from pydantic import ValidationError

    from hub.audit.trail import load_or_create_key
    from hub.settings import HubSettings
    from protocol import SigningKey
    from protocol.errors import KeyFileError
    from protocol.keys import COSIGNER_TYPE

    try:
        settings = HubSettings()
    except ValidationError as exc:
        print(f"error: hub settings: {exc}", file=sys.stderr)
        return 2
    wanted = {
        "audit": (settings.audit_key_file, f"tracseq.local/hub/{settings.name}"),
        "witness": (settings.witness_key_file, f"tracseq.local/hub/{settings.name}/witness"),
    }
    for label, (path, name) in wanted.items():
        existed = Path(path).exists()
        try:
            key = load_or_create_key(Path(path), name)
        except KeyFileError as exc:
            print(f"error: {label} key: {exc}", file=sys.stderr)
            return 1
        if label == "witness":  # the hub cosigns with this key as a witness (hub.domain.ingest)
            key = SigningKey(name, COSIGNER_TYPE, key.private)
        print(f"{label} key {path} ({'kept' if existed else 'created'}): {key.verifier.vkey}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
