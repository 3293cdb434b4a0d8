"""ROS 2 adapters of the mocap library (the ROS package is named ``mocap``; this Python module ``mocap_ros``).

Pure modules (no rclpy import): :mod:`mocap_ros.sync` (multi-camera time synchronisation),
:mod:`mocap_ros.skeleton` (joint orientations from positions), :mod:`mocap_ros.launch_spec` (the node command
lines the launch file starts). ROS modules: :mod:`mocap_ros.convert` (numpy <-> messages),
:mod:`mocap_ros.fusion_node`, :mod:`mocap_ros.camera_node`.
"""

__version__ = "0.1.0"
