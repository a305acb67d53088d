"""A local MQTT broker for the demo and tests: ``python firmware-sim/mqtt/broker.py --port 0``.

Runs the system's Mosquitto when it is installed (persistent sessions saved to ``--data-dir``, MQTT 3.1.1 and 5),
else amqtt if that is importable (pure Python, MQTT 3.1.1 only, sessions in memory: see README.md for what that
loses), else exits 1 saying what to install. Prints one JSON ready line once the broker accepts connections, then
nothing more (logs go to stderr); SIGTERM or SIGINT stops the broker (Mosquitto saves its sessions) and exits 0.
Standard library only, apart from amqtt on the fallback path; imports nothing of TracSeq.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

READY_TIMEOUT_S = 10.0
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def wait_listening(host: str, port: int, alive: Callable[[], bool] | None = None) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((path for path in MOSQUITTO_PATHS if os.access(path, os.X_OK)), None)


def mosquitto_version(binary: str) -> str:
    probe = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5, check=False)  # noqa: S603
    words = (probe.stdout or probe.stderr).split()
    return words[2] if len(words) > 2 and words[:2] == ["mosquitto", "version"] else "unknown"


def mosquitto_config(host: str, port: int, data_dir: Path, max_queued: int) -> str:
    # Started as root, Mosquitto switches to the "mosquitto" user, which cannot reach a private data directory
    # (a test's tmp_path, a 0700 temporary directory): this loopback broker for demos and tests stays as it was
    # started instead.
    user = ["user root"] if os.geteuid() == 0 else []
    return "\n".join(
        [
            f"listener {port} {host}",
            *user,
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {data_dir}/",
            "autosave_interval 5",
            # What an offline persistent session may hold: Mosquitto's default of 1000 QoS 1 messages would
            # drop the rest of a long outage.
            f"max_queued_messages {max_queued}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ]
    )


def run_mosquitto(binary: str, args: argparse.Namespace, data_dir: Path) -> int:
    port = args.port or free_port(args.host)
    config = data_dir / "mosquitto.conf"
    config.write_text(mosquitto_config(args.host, port, data_dir, args.max_queued))
    command = [binary, "-c", str(config)]  # the binary found on PATH or in /usr/sbin, our own config
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sys.stderr)  # noqa: S603
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not wait_listening(args.host, port, lambda: child.poll() is None):
        child.kill()
        child.wait()
        print(f"broker.py: mosquitto did not start listening on {args.host}:{port}", file=sys.stderr)
        return 1
    ready(
        "mosquitto",
        mosquitto_version(binary),
        args.host,
        port,
        pid=child.pid,
        protocols=["3.1.1", "5"],
        persistence=str(data_dir),
    )
    code = child.wait()
    return 0 if stopping else (code or 1)


def run_amqtt(args: argparse.Namespace) -> int:
    try:
        import amqtt
        from amqtt.broker import Broker
    except ImportError:
        print(
            "broker.py: no MQTT broker available: install Mosquitto (apt-get install mosquitto) "
            "or amqtt (pip install amqtt==0.12.1)",
            file=sys.stderr,
        )
        return 1
    port = args.port or free_port(args.host)
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{args.host}:{port}"}},
        # amqtt drops the session of an anonymous client at disconnect: require a user name so that
        # persistent sessions persist (no password check; loopback only).
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
    }

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        broker = Broker(config)
        await broker.start()
        ready("amqtt", amqtt.__version__, args.host, port, pid=os.getpid(), protocols=["3.1.1"], persistence=None)
        await stop.wait()
        await broker.shutdown()
        return 0

    return asyncio.run(serve())


def ready(name: str, version: str, host: str, port: int, **extra: object) -> None:
    line = {"ready": True, "broker": name, "version": version, "host": host, "port": port, **extra}
    line["url"] = f"mqtt://{host}:{port}"
    print(json.dumps(line), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="broker.py", description="A local MQTT broker for the TracSeq demo.")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=1883, help="listen port; 0 picks a free one (default 1883)")
    parser.add_argument("--data-dir", type=Path, help="where Mosquitto keeps sessions (default: a temporary dir)")
    parser.add_argument("--impl", choices=["auto", "mosquitto", "amqtt"], default="auto")
    parser.add_argument(
        "--max-queued", type=int, default=100_000, help="QoS 1 messages Mosquitto holds per offline session"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0-65535")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    binary = find_mosquitto() if args.impl in ("auto", "mosquitto") else None
    if binary is None and args.impl == "mosquitto":
        print("broker.py: mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 1
    if binary is None:
        if args.impl == "auto":
            print("broker.py: mosquitto not found, trying amqtt (MQTT 3.1.1, sessions in memory)", file=sys.stderr)
        return run_amqtt(args)
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        return run_mosquitto(binary, args, args.data_dir)
    with tempfile.TemporaryDirectory(prefix="tracseq-mqtt-") as data_dir:
        return run_mosquitto(binary, args, Path(data_dir))


if __name__ == "__main__":
    sys.exit(main())
