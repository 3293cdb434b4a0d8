"""Helpers of the ROS integration tests and the latency benchmark: run ``ros2 launch`` (or the launch file's nodes)
as processes, collect messages in this process (each with its wall-clock receive time)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path


def installed_executable(name: str) -> Path:
    """``<venv>/lib/mocap/<name>``: where the package installs its node executables."""
    return Path(sys.prefix) / "lib" / "mocap" / name


def start_nodes(specs, env: dict, log_dir: Path) -> list[subprocess.Popen]:
    """Start every :class:`mocap_ros.launch_spec.NodeSpec` as its own process (stdout/stderr to ``log_dir``)."""
    procs = []
    for s in specs:
        log = open(log_dir / f"{s.namespace.strip('/').replace('/', '_')}_{s.name}.log", "w")  # noqa: SIM115
        cmd = [sys.executable, str(installed_executable(s.executable)), *s.ros_args()]
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def stop_nodes(procs: list[subprocess.Popen], timeout: float = 5.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(2)  # SIGINT: rclpy shuts down cleanly
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def logs(log_dir: Path) -> str:
    return "\n".join(f"--- {f.name}\n{f.read_text()[-3000:]}" for f in sorted(log_dir.glob("*.log")))


class Collector:
    """Subscribe to topics in this process and keep what arrives (with the receive time), spun in a thread.
    Several may be open at once (rclpy is shut down with the last one)."""

    live = 0

    def __init__(self, topics: dict[str, type | tuple], name: str = "mocap_test_collector") -> None:
        """``topics``: topic -> message type, or ``(type, qos)`` (default: reliable, volatile, keep last 100)."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node(name)
        #: topic -> [(receive time, time.time() (wall clock, comparable with ROS stamps), message)]
        self.msgs: dict[str, list] = {t: [] for t in topics}
        #: topic -> subscription; ``subs[t].get_publisher_count()`` = publishers matched on OUR side (reader side),
        #: which, unlike ``count_publishers`` (graph only), means their messages will reach us
        self.subs = {topic: self.node.create_subscription(
            *(spec if isinstance(spec, tuple) else (spec, 100))[:1], topic,
            lambda m, t=topic: self.msgs[t].append((time.time(), m)), (spec[1] if isinstance(spec, tuple) else 100))
            for topic, spec in topics.items()}
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._stop = False
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()
        Collector.live += 1

    def _spin(self) -> None:
        while not self._stop:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        import rclpy

        self._stop = True
        self.thread.join(2)
        self.executor.shutdown()
        self.node.destroy_node()
        Collector.live -= 1
        if rclpy.ok() and Collector.live == 0:
            rclpy.shutdown()


class Launch:
    """``ros2 launch mocap multiview.launch.py ARGS`` as a subprocess in its own process group (log in ``log``).

    ``stop()`` sends SIGINT (what Ctrl-C does), waits, then kills whatever is left of the group.
    """

    def __init__(self, args: list[str], env: dict, log: Path, launch_file: str = "multiview.launch.py") -> None:
        import os

        self.log_path = log
        self._log = open(log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(["ros2", "launch", "mocap", launch_file, *args], env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pgid = os.getpgid(self.proc.pid)

    def node_pids(self, pattern: str = "") -> list[int]:
        """Pids of this launch's processes (its process group, the launcher excluded) whose command line contains
        ``pattern``."""
        import os

        out = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == self.proc.pid:
                continue
            try:
                if os.getpgid(int(d.name)) != self.pgid:
                    continue
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ProcessLookupError):
                continue
            if pattern in cmd:
                out.append(int(d.name))
        return out

    def text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        import os
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:  # nothing of the group may outlive the test
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)
        self._log.close()
        return self.proc.returncode
