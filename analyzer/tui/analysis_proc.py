"""The first pass in a child process, for the TUI.

Why: the first pass of a big capture is 20-30 s of Python and numpy. Run in a thread of the
UI's process it shares the interpreter with the UI thread, and a key waits for the GIL
(tens of milliseconds, more when the machine is busy); its temporaries also peak at several
times the store it leaves (1 GB for a million packets) in the UI's own memory. In a forked
child it has the interpreter to itself, its peak is the child's, and the UI's process only
receives the result: the Capture without its frame index (the parent has that), pickled
through a pipe (numpy arrays as raw buffers; 60 MB for a million packets, a few tenths of a
second to read).

The child starts with everything the parent built (copy-on-write): the index is not sent.
Progress comes back as small messages. Cancelling kills the child. Where fork is not
available, or the child fails to start, the pass runs in the calling thread as before.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import struct
import threading
from collections.abc import Callable
from typing import Any

from analyzer.engine.firstpass import Capture, Cancelled, first_pass
from dissectors.fields import EXPERTS

_HEAD = struct.Struct("<Q")
POLL = 0.05      # seconds between looks at the cancel event while the child works
PR_SET_PDEATHSIG = 1
NICE = 10        # the child's scheduling niceness: below the UI's


def _libc_prctl() -> Any:
    """prctl, resolved before any fork (loading a library in the child is not safe)."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def first_pass_offloaded(index: Any, cancel: threading.Event,
                         progress: Callable[[str, float], None]) -> Capture:
    """first_pass(index) computed in a forked child; raises Cancelled when cancel is set."""
    if not hasattr(os, "fork"):
        return first_pass(index, cancel=cancel, progress=progress)
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return first_pass(index, cancel=cancel, progress=progress)
    if pid == 0:                                   # the child
        os.close(r)
        _child(index, w)
    os.close(w)
    try:
        cap = _receive(r, pid, cancel, progress)
    finally:
        os.close(r)
        _reap(pid, kill=cancel.is_set())
    cap.index = index
    _restore_specs(cap)
    return cap


def _child(index: Any, fd: int) -> None:
    """Compute, send, and leave without running any of the parent's cleanup."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if _PRCTL is not None:      # dies with the UI, should it end before the pass does
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The pass (and the process it forks for TCP) takes both cores of a small machine;
        # the UI, idle most of the time, gets the CPU first when a key comes in.
        os.nice(NICE)
        with os.fdopen(fd, "wb") as out:
            def progress(stage: str, fraction: float) -> None:
                _send(out, ("progress", stage, fraction))
                out.flush()
            try:
                cap = first_pass(index, progress=progress)
                cap.index = None
                _send(out, ("done", cap))
                code = 0
            except Exception as e:     # noqa: BLE001 - the parent reports it as it would
                _send(out, ("error", e))
    finally:
        os._exit(code)


def _send(out: Any, message: tuple) -> None:
    blob = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEAD.pack(len(blob)))
    out.write(blob)


def _read_exact(fd: int, n: int, cancel: threading.Event) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    poller = select.poll()      # not select(): a process with many files has fds past 1024
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while got < n:
        if cancel.is_set():
            raise Cancelled
        if not poller.poll(POLL * 1000):
            continue
        k = os.readv(fd, [view[got:]])
        if k == 0:
            raise RuntimeError("the first-pass process ended without its result")
        got += k
    return bytes(buf)


def _receive(fd: int, pid: int, cancel: threading.Event,
             progress: Callable[[str, float], None]) -> Capture:
    while True:
        (size,) = _HEAD.unpack(_read_exact(fd, _HEAD.size, cancel))
        kind, *rest = pickle.loads(_read_exact(fd, size, cancel))
        if kind == "progress":
            progress(*rest)
        elif kind == "done":
            return rest[0]
        else:
            raise rest[0]


def _reap(pid: int, kill: bool) -> None:
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _restore_specs(cap: Capture) -> None:
    """Findings came back with copies of their kinds; point them at the registered ones
    (the views compare and explain them as the registry's objects)."""
    seen: set[int] = set()
    lists = [cap.findings]
    for part in (cap.dns, cap.tls):
        found = getattr(part, "findings", None)
        if found is not None:
            lists.append(found)
    for found in lists:
        for f in found:
            if id(f) in seen:
                continue
            seen.add(id(f))
            spec = EXPERTS.get(f.spec.abbrev)
            if spec is not None:
                f.spec = spec
