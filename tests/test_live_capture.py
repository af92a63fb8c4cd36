"""Live capture end to end: `wirelens read -i lo` in a private network namespace.

A fresh namespace's loopback carries only the traffic these tests send, so wirelens must see
exactly the packets tcpdump sees, the capture filter must select exactly the matching ones,
and every way of stopping (-c, -a duration:, Ctrl-C) must leave a valid -w file with every
packet printed. Needs root and `ip netns`; skips cleanly without them.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.capture import open_capture
from analyzer.capture.live import BACKENDS, available_backends

ROOT = Path(__file__).resolve().parents[1]
PORT, OTHER_PORT = 5555, 5556


def _can_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.fixture(scope="module")
def netns():
    """A private network namespace with only `lo` up; deleted afterwards."""
    if not _can_netns():
        pytest.skip("needs root and iproute2 for a network namespace")
    name = f"wlens-live-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _wirelens(ns: str, *args: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "analyzer.cli",
                             *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, env=_env(), text=True)


def _wait_for_line(stream, marker: str, timeout: float = 20) -> list[str]:
    """Lines of `stream` up to the one containing `marker` (the capture is then running)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"no {marker!r} line; got {seen}")


def _send(ns: str, port: int, count: int, size: int = 32) -> None:
    """`count` UDP datagrams to 127.0.0.1:port from inside the namespace."""
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            f"for i in range({count}): s.sendto(b'x'*{size},('127.0.0.1',{port}))\n")
    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True,
                   timeout=60)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(x) for x in task.read_text().split()]
    return found


def _gone(pid: int) -> bool:
    """True when the process no longer exists (a zombie counts as still there)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return True
    return state == "X"


def _frames(path: Path) -> list:
    with open_capture(path) as r:
        frames = list(r)
        assert r.error is None, r.error
    return frames


def _tcpdump(ns: str, path: Path, bpf: str) -> subprocess.Popen:
    p = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", "lo", "-U", "-n",
                          "-w", str(path), bpf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_line(p.stderr, "listening on")
    return p


def _backend(name: str) -> str:
    if name not in available_backends():
        pytest.skip(f"{name} not installed")
    return name


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_counts_and_filter_match_tcpdump(netns, tmp_path, backend):
    """Same packets as tcpdump, filter applied, Ctrl-C leaves every packet in a valid file."""
    _backend(backend)
    if not shutil.which("tcpdump"):
        pytest.skip("tcpdump is the reference")
    out = tmp_path / "live.pcapng"
    ref = tmp_path / "ref.pcap"
    bpf = f"udp port {PORT}"
    proc = _wirelens(netns, "read", "-i", "lo", "-f", bpf, "-w", str(out), "-P",
                     "--capture-with", backend)
    _wait_for_line(proc.stderr, "Capturing on 'lo'")
    children = _children(proc.pid)
    tcpdump = _tcpdump(netns, ref, bpf)
    _send(netns, PORT, 400)
    _send(netns, OTHER_PORT, 150)
    _send(netns, PORT, 100)
    # Ctrl-C at once: the packets still in the tool's kernel ring must come through too.
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    time.sleep(1.5)     # the reference tcpdump has no such care: give it time first
    tcpdump.send_signal(signal.SIGINT)
    tcpdump.wait(20)
    assert proc.returncode == 0, stderr
    reference = _frames(ref)
    assert len(reference) == 500
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    assert len(lines) == len(reference)
    assert all(f"→ {PORT} Len=32" in ln for ln in lines), lines[:3]
    frames = _frames(out)
    assert len(frames) == len(reference)
    assert [f.data for f in frames] == [f.data for f in reference]
    assert "500 packets captured" in stderr
    assert "Traceback" not in stderr
    for pid in _children(proc.pid) + children:
        assert _gone(pid), f"capture process {pid} left behind"


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_stops_capture(netns, tmp_path, backend):
    _backend(backend)
    out = tmp_path / "c.pcap"
    proc = _wirelens(netns, "read", "-i", "lo", "-c", "7", "-w", str(out), "-P",
                     "--capture-with", backend)
    _wait_for_line(proc.stderr, "Capturing on")
    _send(netns, PORT, 30)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert len(stdout.splitlines()) == 7
    assert len(_frames(out)) == 7
    assert "7 packets captured" in stderr


def test_autostop_packets_and_duration(netns, tmp_path):
    backend = available_backends()[0]
    proc = _wirelens(netns, "read", "-i", "lo", "-a", "packets:3", "--capture-with", backend)
    _wait_for_line(proc.stderr, "Capturing on")
    _send(netns, PORT, 10)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and len(stdout.splitlines()) == 3
    start = time.monotonic()
    proc = _wirelens(netns, "read", "-i", "lo", "-a", "duration:1", "-f", "udp", "-w",
                     str(tmp_path / "d.pcapng"), "--capture-with", backend)
    _wait_for_line(proc.stderr, "Capturing on")
    _send(netns, PORT, 20)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert time.monotonic() - start < 15
    assert len(_frames(tmp_path / "d.pcapng")) == 20
    assert "20 packets captured" in stderr


def test_any_interface_is_linux_cooked(netns, tmp_path):
    """`-i any` over the AF_PACKET fallback writes Linux cooked frames, one per packet."""
    if not shutil.which("tcpdump"):
        pytest.skip("the AF_PACKET backend compiles -f with tcpdump")
    out = tmp_path / "any.pcapng"
    proc = _wirelens(netns, "read", "-i", "any", "-c", "5", "-f", "udp", "-w", str(out), "-P",
                     "--capture-with", "afpacket")
    _wait_for_line(proc.stderr, "Capturing on")
    _send(netns, PORT, 5)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    frames = _frames(out)
    assert len(frames) == 5 and {f.linktype for f in frames} == {113}
    assert all(f"→ {PORT} Len=32" in ln for ln in stdout.splitlines())


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_interface_and_bad_filter(netns, backend):
    _backend(backend)
    proc = _wirelens(netns, "read", "-i", "nosuch0", "--capture-with", backend)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip().splitlines() == ["wirelens: no such interface: nosuch0 "
                                        "(wirelens -D lists them)"]
    if backend == "afpacket" and not shutil.which("tcpdump"):
        return
    proc = _wirelens(netns, "read", "-i", "lo", "-f", "udp prt 9", "--capture-with", backend)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1].startswith('wirelens: bad capture filter "udp prt 9"')
    assert "Traceback" not in err


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_capture_rights_gives_the_fixes(backend):
    """Root without CAP_NET_RAW/CAP_NET_ADMIN is refused like an ordinary user."""
    _backend(backend)
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop the capture capabilities")
    run = subprocess.run(["setpriv", "--bounding-set", "-net_raw,-net_admin", "--",
                          sys.executable, "-m", "analyzer.cli", "read", "-i", "lo",
                          "--capture-with", backend],
                         capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("wirelens: no permission to capture on lo")
    for fix in ("wireshark group", "setcap cap_net_raw,cap_net_admin", "sudo"):
        assert fix in lines[0]


def test_unprivileged_user_dumpcap_refusal_is_recognised():
    """dumpcap's real refusal, run as `nobody`, maps onto the permission message."""
    from analyzer.capture.live import LiveOptions, PermissionDenied, _classify
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("dumpcap"):
        pytest.skip("needs root, setpriv and dumpcap")
    run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "dumpcap", "-i", "lo", "-w", "-", "-c", "1"],
                         capture_output=True, text=True, timeout=60)
    if run.returncode == 0:
        pytest.skip("dumpcap can capture as nobody here (setcap'd)")
    err = _classify("dumpcap", LiveOptions("lo"), run.stderr, run.returncode)
    assert isinstance(err, PermissionDenied)
    assert "wireshark group" in str(err)


def test_capture_tool_that_dies_is_reported(netns):
    """A capture tool killed under us: one line naming it and the signal, exit 2."""
    backend = _backend("tcpdump")
    proc = _wirelens(netns, "read", "-i", "lo", "--capture-with", backend)
    _wait_for_line(proc.stderr, "Capturing on")
    children = _children(proc.pid)
    assert children
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1] == ("wirelens: lo: tcpdump stopped capturing: it was "
                                            "killed by signal 9")


@pytest.mark.parametrize("backend", ["dumpcap", "tcpdump"])
def test_no_orphan_when_wirelens_is_killed(netns, backend):
    """wirelens killed outright (no chance to stop the tool): the tool still ends."""
    _backend(backend)
    proc = _wirelens(netns, "read", "-i", "lo", "--capture-with", backend)
    _wait_for_line(proc.stderr, "Capturing on")
    children = _children(proc.pid)
    assert children
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(pid) for pid in children):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in children), "capture tool orphaned"
