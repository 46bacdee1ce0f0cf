"""Real smfg processes for the end-to-end tests: coordinator, workers, `smfg`.

The binaries come from the environment (python/run_tests.sh and the ctest entry
set them): ``SMFG_COORDINATOR_BIN``, ``SMFG_WORKER_BIN``, ``SMFG_CLIENT_BIN``,
or ``SMFG_BIN_DIR`` = a CMake build directory holding
``coordinator/smfg-coordinator``, ``follower_workers/smfg-worker`` and
``client/smfg``. A missing binary is an error, never a skip.

Every wait polls a condition against a deadline; every process is stopped
(SIGTERM, then SIGKILL after a grace period) by :meth:`Process.stop`, which the
tests register as a cleanup as soon as the process exists, and is killed by the
kernel if the test process dies first (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from typing import Callable, Dict, List, Optional, TypeVar

SOURCE_DIR = os.environ.get(
    "SMFG_SOURCE_DIR",
    os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)),
)

_BINARIES = {
    "SMFG_COORDINATOR_BIN": os.path.join("coordinator", "smfg-coordinator"),
    "SMFG_WORKER_BIN": os.path.join("follower_workers", "smfg-worker"),
    "SMFG_CLIENT_BIN": os.path.join("client", "smfg"),
}


def binary(variable: str) -> str:
    """The path of a built binary, from $variable or $SMFG_BIN_DIR; raises if absent."""
    path = os.environ.get(variable)
    if not path and os.environ.get("SMFG_BIN_DIR"):
        path = os.path.join(os.environ["SMFG_BIN_DIR"], _BINARIES[variable])
    if not path:
        raise RuntimeError(f"set ${variable} (or $SMFG_BIN_DIR to the CMake build directory)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"${variable}: {path} is not an executable file (build it first)")
    return path


def _with_parent_death_signal(args: List[str]) -> List[str]:
    """args run under `setpriv --pdeathsig KILL`: SIGKILL when the test process dies.

    Not a preexec_fn: Python code between fork and exec is unsafe once grpcio's threads
    exist (the child could abort in gRPC's fork handlers before exec, seen as a -6 exit
    with an "epoll_wait error: Bad file descriptor" line in the child's log).
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.uname().sysname != "Linux":
        return list(args)
    return [setpriv, "--pdeathsig", "KILL", "--", *args]


T = TypeVar("T")


def wait_for(what: str, condition: Callable[[], Optional[T]], timeout: float, period: float = 0.05) -> T:
    """Polls condition() until it returns a truthy value; raises AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(period)


class Process:
    """A child process whose stdout lines are kept (and copied to a log) by a reader thread."""

    def __init__(self, args: List[str], log_path: str, env: Optional[Dict[str, str]] = None) -> None:
        self.args = args
        self.log_path = log_path
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._log = open(log_path, "w", encoding="utf-8")
        print(f"[cluster] starting {' '.join(args)} (log: {log_path})", flush=True)
        self.popen = subprocess.Popen(
            _with_parent_death_signal(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._log.write(line)
            self._log.flush()
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)  # end of output

    def wait_for_line(self, pattern: str, timeout: float) -> "re.Match[str]":
        """The first stdout line matching `pattern` (a regex), within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.args[0]} printed no line matching {pattern!r} within {timeout:.0f} s; "
                    f"log:\n{self.log_tail()}"
                )
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.popen.wait(timeout=10)
                raise AssertionError(
                    f"{self.args[0]} exited with {self.popen.returncode} before printing "
                    f"{pattern!r}; log:\n{self.log_tail()}"
                )
            match = regex.search(line)
            if match:
                return match

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 15.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(f"[cluster] {self.args[0]} ignored SIGTERM for {grace:.0f} s: SIGKILL", flush=True)
                self.popen.kill()
                self.popen.wait(timeout=30)
        self._reader.join(timeout=10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()
        return self.popen.returncode


def start_coordinator(
    data_dir: str, log_path: str, extra_args: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None
) -> "tuple[Process, str]":
    """Starts smfg-coordinator on a free loopback port; returns it and its HOST:PORT.

    The caller must stop the process (also when this raises after it started:
    it is stopped here then).
    """
    args = [
        binary("SMFG_COORDINATOR_BIN"),
        "--listen=127.0.0.1:0",
        f"--data_dir={data_dir}",
        *(extra_args or []),
    ]
    process = Process(args, log_path, env=env)
    try:
        address = process.wait_for_line(r"listening on (\S+:\d+)", timeout=60).group(1)
    except BaseException:
        process.stop()
        raise
    print(f"[cluster] coordinator listening on {address}", flush=True)
    return process, address


def start_worker(address: str, log_path: str, env: Optional[Dict[str, str]] = None) -> Process:
    return Process([binary("SMFG_WORKER_BIN"), f"--coordinator={address}"], log_path, env=env)


def environment_without(*names: str) -> Dict[str, str]:
    """os.environ less the given variables (so a developer's tokens do not leak in)."""
    return {k: v for k, v in os.environ.items() if k not in names}


def run_client(args: List[str], timeout: float, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Runs the `smfg` CLI to completion (killed after `timeout`); raises on a non-zero exit."""
    command = [binary("SMFG_CLIENT_BIN"), *args]
    print(f"[cluster] running {' '.join(command)}", flush=True)
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, env=env
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited with {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result
