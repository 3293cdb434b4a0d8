"""Helpers of the ROS integration test and the latency benchmark: start the launch file's nodes as processes,
collect messages in this process."""

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
    """Subscribe to topics in this process and keep what arrives (with the receive time), spun in a thread."""

    def __init__(self, topics: dict[str, type]) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node("mocap_test_collector")
        self.msgs: dict[str, list] = {t: [] for t in topics}
        #: topic -> subscription; ``subs[t].get_publisher_count()`` = publishers matched on OUR side (reader side),
        #: which, unlike ``count_publishers`` (graph only), means their messages will reach us
        self.subs = {topic: self.node.create_subscription(
            typ, topic, lambda m, t=topic: self.msgs[t].append((time.perf_counter(), m)), 100)
            for topic, typ in topics.items()}
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._stop = False
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        while not self._stop:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        import rclpy

        self._stop = True
        self.thread.join(2)
        self.executor.shutdown()
        self.node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
