"""Two network namespaces joined by a veth pair, for end-to-end tests that cut, slow and drop the edge's link.

``tsq-hub-<rand>`` holds ``10.77.<x>.1``, ``tsq-edge-<rand>`` holds ``10.77.<x>.2``. Faults are applied on both ends
of the pair: tc netem where the kernel has it (delay with jitter, random loss), otherwise nftables ``numgen`` drops
for loss and an HTB rate limit for a slow link (netem is a kernel option, ``CONFIG_NET_SCH_NETEM``, missing on some
CI kernels). A cut is the edge's end of the pair set down. Needs root and iproute2; :func:`unsupported` says why not.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "tsq-"
_CLONE_NEWNET = 0x40000000


class NetnsError(RuntimeError):
    """An ip/tc/nft command failed."""


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=30)
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def unsupported() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) is not installed"
    probe = f"{PREFIX}probe-{secrets.token_hex(3)}"
    done = run("ip", "netns", "add", probe, check=False)
    if done.returncode != 0:
        return f"ip netns add failed: {done.stderr.strip()}"
    try:
        if shutil.which("nft") is None:  # loss needs netem, or nftables without it
            netem = run(
                "ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
                check=False,
            )  # fmt: skip
            if netem.returncode != 0:
                return "the kernel has no tc netem and nft (nftables) is not installed: nothing can drop packets"
    finally:
        run("ip", "netns", "del", probe, check=False)
    return None


def remove_stale() -> list[str]:
    """Delete namespaces (and root-side veth ends) left behind by an earlier, killed run."""
    removed = []
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(PREFIX):
            run("ip", "netns", "del", name, check=False)
            removed.append(name)
    return removed


@dataclass
class Link:
    """The pair of namespaces and what is applied to their link right now (``mode``, for the report)."""

    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    subnet: int = field(default_factory=lambda: 1 + secrets.randbelow(250))
    mode: str = "clean"
    netem: bool = False

    @property
    def hub_ns(self) -> str:
        return f"{PREFIX}hub-{self.tag}"

    @property
    def edge_ns(self) -> str:
        return f"{PREFIX}edge-{self.tag}"

    @property
    def hub_if(self) -> str:
        return f"tsqh{self.tag}"

    @property
    def edge_if(self) -> str:
        return f"tsqe{self.tag}"

    @property
    def hub_ip(self) -> str:
        return f"10.77.{self.subnet}.1"

    @property
    def edge_ip(self) -> str:
        return f"10.77.{self.subnet}.2"

    def ends(self) -> list[tuple[str, str]]:
        return [(self.hub_ns, self.hub_if), (self.edge_ns, self.edge_if)]

    def create(self) -> None:
        for ns in (self.hub_ns, self.edge_ns):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "link", "add", self.hub_if, "type", "veth", "peer", "name", self.edge_if)
        for (ns, dev), ip in zip(self.ends(), (self.hub_ip, self.edge_ip), strict=True):
            run("ip", "link", "set", dev, "netns", ns)
            run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
        self.netem = self._probe_netem()

    def destroy(self) -> None:
        for ns in (self.hub_ns, self.edge_ns):
            run("ip", "netns", "del", ns, check=False)

    def _probe_netem(self) -> bool:
        ns, dev = self.ends()[1]
        done = run(
            "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "netem", "delay", "1ms", check=False
        )
        if done.returncode == 0:
            run("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root", check=False)
        return done.returncode == 0

    def exec_args(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    # -- faults -------------------------------------------------------------------------------------------------

    def clear(self) -> None:
        for ns, dev in self.ends():
            run("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root", check=False)
            run("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "tsq", check=False)
        self.mode = "clean"

    def delay(self, ms: int, jitter_ms: int, slow_kbit: int = 2000) -> None:
        """Delay with jitter (netem); without netem, a slow link of ``slow_kbit`` kbit/s each way instead."""
        self.clear()
        for ns, dev in self.ends():
            tc = ["ip", "netns", "exec", ns, "tc"]
            if self.netem:
                run(*tc, "qdisc", "replace", "dev", dev, "root", "netem", "delay", f"{ms}ms", f"{jitter_ms}ms")
            else:
                run(*tc, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10")
                run(
                    *tc,
                    "class",
                    "add",
                    "dev",
                    dev,
                    "parent",
                    "1:",
                    "classid",
                    "1:10",
                    "htb",
                    "rate",
                    f"{slow_kbit}kbit",
                )
        self.mode = f"delay {ms}ms±{jitter_ms}ms" if self.netem else f"slow link {slow_kbit} kbit/s (no netem)"

    def loss(self, percent: int) -> None:
        """Random loss of ``percent`` % of packets each way (netem, or nftables numgen without it)."""
        self.clear()
        for ns, dev in self.ends():
            if self.netem:
                run(
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "tc",
                    "qdisc",
                    "replace",
                    "dev",
                    dev,
                    "root",
                    "netem",
                    "loss",
                    f"{percent}%",
                )
                continue
            nft = ["ip", "netns", "exec", ns, "nft"]
            run(*nft, "add", "table", "inet", "tsq")
            # output only: each packet passes one output hook, so the loss each way is ``percent``
            run(*nft, "add", "chain", "inet", "tsq", "out", "{ type filter hook output priority 0 ; }")
            run(*nft, "add", "rule", "inet", "tsq", "out", "oifname", dev, "numgen", "random", "mod", "100", "<",
                str(percent), "drop")  # fmt: skip
        self.mode = f"loss {percent}% ({'netem' if self.netem else 'nft numgen'})"

    def cut(self) -> None:
        run("ip", "-n", self.edge_ns, "link", "set", self.edge_if, "down")
        self.mode = "cut"

    def restore(self) -> None:
        self.clear()
        run("ip", "-n", self.edge_ns, "link", "set", self.edge_if, "up")


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run this thread's socket calls in namespace ``ns`` (setns), then go back to where it was."""
    libc = ctypes.CDLL(None, use_errno=True)
    with Path("/proc/thread-self/ns/net").open("rb") as home, Path(f"/run/netns/{ns}").open("rb") as target:
        if libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
            raise NetnsError(f"setns({ns}) failed: {os.strerror(ctypes.get_errno())}")
        try:
            yield
        finally:
            if libc.setns(home.fileno(), _CLONE_NEWNET) != 0:
                raise NetnsError(f"setns(back) failed: {os.strerror(ctypes.get_errno())}")
