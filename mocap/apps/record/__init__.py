"""Demonstration recording for imitation learning (no ROS).

- :mod:`~mocap.apps.record.recorder`: synchronised robot state + operator skeleton + commanded joints + camera
  images at a fixed rate, episodes started, stopped and discarded.
- :mod:`~mocap.apps.record.lerobot`: a crash-safe LeRobot v3.0 dataset writer (episodes flushed atomically, videos
  with PyAV).
- :mod:`~mocap.apps.record.bag`: rosbag2 MCAP bags written as they go, recoverable after a crash (``rosbags``).

Needs ``pyarrow`` and ``av`` (and ``rosbags`` for bags): the ``ros`` extra.
"""
