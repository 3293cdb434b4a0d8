"""Multi-camera markerless motion capture: one camera node per camera + the fusion node (+ RViz, + recording).

    ros2 launch mocap multiview.launch.py calibration:=calib.toml keypoints_file:=kp2d.npz cameras:=cam01,cam02
    ros2 launch mocap multiview.launch.py config:=my.yaml rviz:=true record:=true

Arguments (see mocap_ros.launch_spec.LAUNCH_ARGUMENTS): config, cameras, calibration, keypoints_file, rviz,
record, record_dir. The nodes and their parameters come from mocap_ros.launch_spec.node_specs, the same function
the tests use to start the pipeline without launch_ros.
"""

import os
import time

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from mocap_ros.launch_spec import LAUNCH_ARGUMENTS, RECORD_TOPICS, node_specs


def _nodes(context, *args, **kwargs):
    share = get_package_share_directory("mocap")
    config = LaunchConfiguration("config").perform(context) or os.path.join(share, "config", "multiview.yaml")
    specs = node_specs(
        config,
        cameras=LaunchConfiguration("cameras").perform(context),
        calibration=LaunchConfiguration("calibration").perform(context),
        keypoints_file=LaunchConfiguration("keypoints_file").perform(context),
        start_wall=time.time() + 3.0,  # replaying cameras start together, stamped with wall-clock time
    )
    return [
        Node(package="mocap", executable=s.executable, name=s.name, namespace=s.namespace,
             parameters=[s.params_file, s.overrides], output="screen", emulate_tty=True)
        for s in specs
    ]


def generate_launch_description():
    share = get_package_share_directory("mocap")
    args = [DeclareLaunchArgument(name, default_value=default, description=desc)
            for name, (default, desc) in LAUNCH_ARGUMENTS.items()]
    rviz = Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                arguments=["-d", os.path.join(share, "rviz", "mocap.rviz")],
                condition=IfCondition(LaunchConfiguration("rviz")))
    record = ExecuteProcess(
        cmd=["ros2", "bag", "record", "-s", "mcap", "-o", LaunchConfiguration("record_dir"), *RECORD_TOPICS],
        output="screen", condition=IfCondition(LaunchConfiguration("record")))
    return LaunchDescription([*args, OpaqueFunction(function=_nodes), rviz, record])
