"""`make demo`: the system on its embedded default.

Until the edge agent exists this shows the heart of the product end to end: it writes a signed, witnessed log of
synthetic freezer readings, verifies it as an auditor would, then alters one reading in a copy and shows the
verifier catching it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

OUT = Path("demo-out")


def run(*args: str) -> int:
    print(f"\n$ tracseq {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "protocol", *args], check=False).returncode


def main() -> None:
    OUT.mkdir(exist_ok=True)
    log, trust = OUT / "freezer-log.jsonl", OUT / "freezer-log.trust.json"
    if run("log", "synth", "--entries", "20000", "--out", str(log), "--witness", "--trust-out", str(trust)) != 0:
        raise SystemExit("could not write the sample log")
    if run("verify", str(log), "--trust", str(trust)) != 0:
        raise SystemExit("the sample log did not verify")
    tampered = OUT / "freezer-log.tampered.jsonl"
    shutil.copy(log, tampered)
    lines = tampered.read_bytes().splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if line.startswith(b'{"v":1,"seq":12345,'))
    lines[target] = lines[target].replace(b'"value":"-', b'"value":"-1', 1)
    tampered.write_bytes(b"".join(lines))
    print("\nnow one reading (seq 12345) is altered in a copy of the log:")
    code = run("verify", str(tampered), "--trust", str(trust))
    print(f"\nexit code {code}: the verifier names the first bad seq. Files are in {OUT}/.")


if __name__ == "__main__":
    main()
