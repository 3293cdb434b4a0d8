"""The shared ``main()`` of the mocap ROS 2 nodes: rclpy init, create the node, spin (or run), clean shutdown.

Every node executable does the same: initialise rclpy with the command line (``--ros-args ...``), build its node,
spin it until Ctrl-C / an external shutdown, and on the way out destroy the node and shut rclpy down. User errors
(a bad parameter, a missing file: :class:`mocap.errors.MocapError`, ``SystemExit("message")`` raised by a node's
constructor, and the node's own ``user_errors``) print one line ``<prog>: <message>`` and exit with status 2
instead of a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from mocap.errors import MocapError


def run_node(factory: Callable[[], Node], prog: str, argv: list[str] | None = None, *,
             run: Callable[[Node], None] | None = None, on_exit: Callable[[Node], None] | None = None,
             user_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run one node process; returns the exit status (0 = clean, 2 = user error).

    Args:
        factory: builds the node (called after ``rclpy.init``).
        prog: the name printed before error messages (e.g. ``"fusion"``).
        argv: command line (default ``sys.argv``), including ROS arguments.
        run: what to do with the node (default ``rclpy.spin``); e.g. the camera node's replay loop.
        on_exit: called with the node before it is destroyed, also after Ctrl-C (e.g. close files).
        user_errors: more exception types reported as user errors (message only, status 2).
    """
    rclpy.init(args=argv if argv is not None else sys.argv)
    node = None
    try:
        node = factory()
        (run or rclpy.spin)(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (MocapError, *user_errors) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            return 2
        raise
    finally:
        if node is not None:
            if on_exit is not None:
                on_exit(node)
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return 0
