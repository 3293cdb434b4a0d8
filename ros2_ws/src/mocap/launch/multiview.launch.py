"""Multi-camera markerless motion capture: camera nodes + the fusion node (+ RViz, teleop, recorder).

    ros2 launch mocap multiview.launch.py calibration:=calib.toml keypoints_file:=kp2d.npz cameras:=cam01,cam02
    ros2 launch mocap multiview.launch.py config:=my.yaml rviz:=true record:=true

    ros2 launch mocap multiview.launch.py ... teleop:=true record:=true record_dir:=demos

Arguments (see mocap_ros.launch_spec.LAUNCH_ARGUMENTS): config, cameras, calibration, keypoints_file, rviz,
teleop, teleop_config, record, record_dir; app bridges (see _apps below): vmc, vmc_url, game_control,
gestures. The nodes and their parameters come from mocap_ros.launch_spec.node_specs, the same function the tests
use to start the pipeline without launch_ros.
"""

import os
import time

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from mocap_ros.launch_spec import LAUNCH_ARGUMENTS, is_true, node_specs


def _nodes(context, *args, **kwargs):
    share = get_package_share_directory("mocap")
    config = LaunchConfiguration("config").perform(context) or os.path.join(share, "config", "multiview.yaml")
    specs = node_specs(
        config,
        cameras=LaunchConfiguration("cameras").perform(context),
        calibration=LaunchConfiguration("calibration").perform(context),
        keypoints_file=LaunchConfiguration("keypoints_file").perform(context),
        start_wall=time.time() + 3.0,  # replaying cameras start together, stamped with wall-clock time
        teleop=is_true(LaunchConfiguration("teleop").perform(context)),
        teleop_config=LaunchConfiguration("teleop_config").perform(context),
        record=is_true(LaunchConfiguration("record").perform(context)),
        record_dir=LaunchConfiguration("record_dir").perform(context),
        config_dir=os.path.join(share, "config"),  # teleop.yaml, recorder.yaml
    )
    return [
        Node(package="mocap", executable=s.executable, name=s.name, namespace=s.namespace,
             parameters=[s.params_file, s.overrides], output="screen", emulate_tty=True)
        for s in specs
    ]


# ---- app bridges (mocap.apps): VMC avatar stream and game control, off by default --------------------------------
def _apps(context, *args, **kwargs):
    nodes = []
    if is_true(LaunchConfiguration("vmc").perform(context)):
        nodes.append(Node(package="mocap", executable="vmc_bridge", name="vmc_bridge", namespace="/mocap",
                          parameters=[{"vmc_url": LaunchConfiguration("vmc_url").perform(context)}],
                          output="screen", emulate_tty=True))
    if is_true(LaunchConfiguration("game_control").perform(context)):
        nodes.append(Node(package="mocap", executable="game_control", name="game_control", namespace="/mocap",
                          parameters=[{"gestures": LaunchConfiguration("gestures").perform(context)}],
                          output="screen", emulate_tty=True))
    return nodes
# ---- end of the app bridges ----------------------------------------------------------------------------------------


def generate_launch_description():
    share = get_package_share_directory("mocap")
    args = [DeclareLaunchArgument(name, default_value=default, description=desc)
            for name, (default, desc) in LAUNCH_ARGUMENTS.items()]
    rviz = Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                arguments=["-d", os.path.join(share, "rviz", "mocap.rviz")],
                condition=IfCondition(LaunchConfiguration("rviz")))
    return LaunchDescription([*args, OpaqueFunction(function=_nodes), OpaqueFunction(function=_apps), rviz])
