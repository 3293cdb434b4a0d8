"""ROS 2 adapters of the mocap library (the ROS package is named ``mocap``; this Python module ``mocap_ros``).

The logic lives in the library, which never imports ROS: the live core :mod:`mocap.live.core` (triangulate, filter,
track, fit), :mod:`mocap.live.sync` (multi-camera time synchronisation), :mod:`mocap.skeletons.orientations` and the
skeleton-stream contract :mod:`mocap.live.stream`. Here: :mod:`mocap_ros.params` and :mod:`mocap_ros.launch_spec`
(no rclpy: parameter names and the node command lines the launch file starts), :mod:`mocap_ros.convert` (stream
dataclasses and arrays <-> messages) and the nodes :mod:`mocap_ros.fusion_node`, :mod:`mocap_ros.camera_node`.
"""

__version__ = "0.1.0"
