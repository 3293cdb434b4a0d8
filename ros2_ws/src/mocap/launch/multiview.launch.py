"""Multi-camera markerless motion capture: camera nodes + the fusion node (+ RViz, teleop, recorder).

    ros2 launch mocap multiview.launch.py session:=out/demo                 # after `mocap demo`: replay its 2D
    ros2 launch mocap multiview.launch.py session:=out/demo mode:=video     # detect live in its videos
    ros2 launch mocap multiview.launch.py calibration:=calib.toml cameras:=cam1,cam2 mode:=usb source:=0,2
    ros2 launch mocap multiview.launch.py ... body_model:=anny rviz:=true teleop:=true record:=true

Arguments: see mocap_ros.launch_spec.LAUNCH_ARGUMENTS (the README's table lists the same). The nodes and their
parameters come from mocap_ros.launch_spec.node_specs, the function the tests also use. Camera nodes respawn; the
fusion node's exit shuts the launch down. An argument that cannot be used (or rviz:=true without rviz2) prints one
line and starts nothing. The app bridges (vmc, vmc_url, game_control, gestures; see _apps below) run in the
same namespace.
"""

import os

from ament_index_python.packages import PackageNotFoundError, get_package_prefix, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from mocap_ros.launch_spec import LAUNCH_ARGUMENTS, LaunchError, is_true, node_specs


def _refuse(text: str):
    """Stop before any node starts: ``ros2 launch`` prints this one line and exits with status 1."""
    raise RuntimeError(f"{text}; nothing started")


def _nodes(context, *args, **kwargs):
    share = get_package_share_directory("mocap")
    arg = {name: LaunchConfiguration(name).perform(context) for name in LAUNCH_ARGUMENTS}
    if is_true(arg["rviz"]):
        try:
            get_package_prefix("rviz2")
        except PackageNotFoundError:
            return _refuse("rviz:=true but the rviz2 package is not installed (e.g. apt install ros-$ROS_DISTRO-rviz2)")
    try:
        specs = node_specs(
            arg["config"] or os.path.join(share, "config", "multiview.yaml"),
            cameras=arg["cameras"], calibration=arg["calibration"], keypoints_file=arg["keypoints_file"],
            teleop=is_true(arg["teleop"]), teleop_config=arg["teleop_config"], record=is_true(arg["record"]),
            record_dir=arg["record_dir"], config_dir=os.path.join(share, "config"), session=arg["session"],
            mode=arg["mode"], source=arg["source"], body_model=arg["body_model"], namespace=arg["namespace"],
            respawn=is_true(arg["respawn"]), sim_robot=is_true(arg["sim_robot"]))
    except (LaunchError, OSError) as e:
        return _refuse(str(e))
    actions = []
    for s in specs:
        on_exit = [LogInfo(msg="[mocap] the fusion node exited: shutting the launch down"),
                   EmitEvent(event=Shutdown(reason="fusion node exited"))] if s.shutdown_on_exit else None
        actions.append(Node(package="mocap", executable=s.executable, name=s.name, namespace=s.namespace,
                            parameters=[s.params_file, s.overrides], remappings=list(s.remaps.items()),
                            respawn=s.respawn, respawn_delay=1.0 if s.respawn else 0.0, on_exit=on_exit,
                            output="screen", emulate_tty=True))
    if is_true(arg["rviz"]):
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                            arguments=["-d", os.path.join(share, "rviz", "mocap.rviz")]))
    return actions


# ---- app bridges (mocap.apps): VMC avatar stream and game control, off by default --------------------------------
def _apps(context, *args, **kwargs):
    ns = "/" + LaunchConfiguration("namespace").perform(context).strip("/")
    nodes = []
    if is_true(LaunchConfiguration("vmc").perform(context)):
        nodes.append(Node(package="mocap", executable="vmc_bridge", name="vmc_bridge", namespace=ns,
                          parameters=[{"vmc_url": LaunchConfiguration("vmc_url").perform(context)}],
                          output="screen", emulate_tty=True))
    if is_true(LaunchConfiguration("game_control").perform(context)):
        nodes.append(Node(package="mocap", executable="game_control", name="game_control", namespace=ns,
                          parameters=[{"gestures": LaunchConfiguration("gestures").perform(context)}],
                          output="screen", emulate_tty=True))
    return nodes
# ---- end of the app bridges ----------------------------------------------------------------------------------------


def generate_launch_description():
    args = [DeclareLaunchArgument(name, default_value=default, description=desc)
            for name, (default, desc) in LAUNCH_ARGUMENTS.items()]
    return LaunchDescription([*args, OpaqueFunction(function=_nodes), OpaqueFunction(function=_apps)])
