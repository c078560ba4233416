"""Run the API as a real uvicorn server on 127.0.0.1, for tests and the soak script.

    with ApiServer(database_url, workers=2) as server:
        httpx.get(server.url + "/v1/initiatives")

The server is a subprocess in its own process group (``python -m uvicorn api.app:app``) on a
free loopback port, configured only through the environment (``TRACKER_*``; write and
authentication rate limits are off unless ``rate_limits=True``). ``start`` waits for
``GET /v1/initiatives`` to answer 200 (or one of ``ready_statuses``) within a bounded time;
``stop`` sends SIGTERM and kills the group if it has not exited in time; ``kill`` is SIGKILL to
the group at once (a crash). ``prefix`` runs the server under another command, e.g.
``["nsenter", "-t", pid, "-m", "--"]``; ``pids()`` and ``rss_kib()`` see its worker processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
READY_PATH = "/v1/initiatives?limit=1"
KEEP_ALIVE_S = 30


class ServerError(RuntimeError):
    """The server did not come up (or did something else it should not)."""


def free_port() -> int:
    """A port the kernel says is free on 127.0.0.1 now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, read from /proc (no psutil needed)."""
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            out = [int(p) for p in fh.read().split()]
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    seen: list[int] = []
    todo = [pid]
    while todo and len(seen) < 1000:
        current = todo.pop()
        if not Path(f"/proc/{current}").exists():
            continue
        seen.append(current)
        todo.extend(_children(current))
    return seen


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class ApiServer:
    """One uvicorn server process (and its workers) against one database URL."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        rate_limits: bool = False,
        access_log: bool = False,
        prefix: Sequence[str] = (),
        log_dir: Path | None = None,
        port: int | None = None,
        ready_statuses: Collection[int] = (200,),
    ) -> None:
        self.database_url = database_url
        self.workers = workers
        self.extra_env = dict(env or {})
        self.rate_limits = rate_limits
        self.access_log = access_log
        self.prefix = list(prefix)
        self.own_log_dir = log_dir is None  # a temporary one, removed by stop()
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="pt-server-"))
        self.fixed_port = port
        self.ready_statuses = set(ready_statuses)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # --- addresses and state -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServerError("the server is not running")
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"server-{self.starts}.log"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """The server process and its workers."""
        return process_tree(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def rss_kib(self) -> int:
        """Total resident memory of the server process and its workers."""
        return sum(rss_kib(p) for p in self.pids())

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- lifecycle -------------------------------------------------------------------------

    def command(self, port: int) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(self.workers),
            "--timeout-graceful-shutdown",
            "5",
            # Longer than httpx's 5 s keep-alive expiry: a client never reuses a connection
            # that the server is closing at that moment (a ReadError that is nobody's bug).
            "--timeout-keep-alive",
            str(KEEP_ALIVE_S),
        ]
        if not self.access_log:
            cmd.append("--no-access-log")
        return [*self.prefix, *cmd]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["TRACKER_DATABASE_URL"] = self.database_url
        env.setdefault("TRACKER_LOG_LEVEL", "WARNING")
        if not self.rate_limits:
            env["TRACKER_WRITE_RATE_LIMIT"] = "0"
            env["TRACKER_AUTH_FAILURE_LIMIT"] = "0"
        env.update(self.extra_env)
        # Our own interpreter's site-packages and the project root, whatever the caller's cwd.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        return env

    def start(self, timeout: float = 60.0) -> ApiServer:
        """Start (or restart after stop/kill) and wait until it answers; at most 3 port tries."""
        if self.running():
            raise ServerError("the server is running already")
        last_error = ""
        for _attempt in range(3):
            port = self.fixed_port or self.port or free_port()
            self.starts += 1
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    self.command(port),
                    cwd=ROOT,
                    env=self.environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.port = port
            try:
                self.wait_ready(timeout)
                return self
            except ServerError as exc:
                last_error = str(exc)
                self.kill()
                if "address already in use" not in self.log_tail().lower():
                    break
                self.port = 0  # someone took the port between our check and the bind
        raise ServerError(last_error)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise ServerError(f"the server exited at start-up:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(READY_PATH).status_code in self.ready_statuses:
                        return
                time.sleep(0.1)
        raise ServerError(f"the server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)  # our own session: the server and its workers

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL to the whole group after ``timeout``; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(10)
        self._signal_group(signal.SIGKILL)  # workers left behind, if any
        if self.own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL to the server and its workers at once, as a crash or the OOM killer would."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
