"""Parameters (names and defaults) of the nodes; no ROS import. ``config/multiview.yaml`` documents them."""

import dataclasses

from mocap.apps.teleop.controller import TeleopConfig
from mocap.live.params import CORE_PARAMS
from mocap.live.sync import SYNC_PARAMS

MODES = ("replay", "video", "usb", "realsense")  # camera node modes

#: camera node parameters
CAMERA_PARAMS = {
    "camera": "",
    "mode": "replay",
    "source": "",
    "keypoints_file": "",
    "calibration": "",
    "detector": "mediapipe",
    "joint_set": "",
    "rate": 1.0,
    "loop": False,
    "max_frames": 0,
    "wait_start": True,
    "wait_timeout_s": 30.0,
    "replay_time_base": 0.0,
    "keypoints_topic": "keypoints2d",
    "camera_info_topic": "camera_info",
    "frame_id": "",
}

#: fusion node parameters: its topics and outputs, the synchroniser's options, then the live core's
#: (:data:`mocap.live.core.CORE_PARAMS`, shared with ``mocap live``)
FUSION_PARAMS = {
    "calibration": "",
    "cameras": [""],
    "keypoints_topic": "{camera}/keypoints2d",
    "skeletons_topic": "skeletons",
    "latest_topic": "skeletons/latest",
    "description_topic": "skeleton_description",
    "triangulated_topic": "skeletons/triangulated",
    "markers_topic": "markers",
    "world_frame": "world",
    "publish_markers": True,
    "publish_tf": True,
    "publish_camera_tf": True,
    "start_margin_s": 0.5,
    "start_timeout_s": 20.0,
    "start_subscriber_wait_s": 5.0,
    "diagnostics_period_s": 1.0,
    "imu_topic": "",
    "imu_timeout_s": 1.0,
    "warn_period_s": 2.0,
    **SYNC_PARAMS,
    **CORE_PARAMS,
}

#: teleop node parameters besides the controller's: topics, rates, lifecycle; ``config/teleop.yaml`` documents them.
TELEOP_NODE_PARAMS = {
    "robot_state_topic": "/joint_states",
    "trajectory_topic": "/joint_trajectory_controller/joint_trajectory",
    "skeletons_topic": "skeletons",
    "description_topic": "skeleton_description",
    "base_frame": "base_link",
    "control_rate": 50.0,
    "heartbeat_button": -1,
    "autostart": True,
}

#: optional double-array teleop parameters (unset = the robot's default): declared by type, no default value
TELEOP_OPTIONAL_LISTS = ("home", "acceleration", "jerk")
#: teleop controller parameters: every mocap.apps.teleop.controller.TeleopConfig field with its default
TELEOP_CONFIG_PARAMS = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                        for f in dataclasses.fields(TeleopConfig) if f.name not in TELEOP_OPTIONAL_LISTS}
#: every teleop node parameter with a default (what config/teleop.yaml lists)
TELEOP_PARAMS = {**TELEOP_NODE_PARAMS, **TELEOP_CONFIG_PARAMS}

#: simulated robot (test tool) parameters; ``config/sim_robot.yaml`` documents them.
SIM_ROBOT_PARAMS = {
    "robot": "ur5",
    "urdf": "",
    "start_positions": [0.0],
    "start_offset": 0.5,
    "rate": 100.0,
    "state_topic": "/joint_states",
    "trajectory_topic": "/joint_trajectory_controller/joint_trajectory",
    "publish_state": True,
    "allow_nonzero_velocity_at_trajectory_end": False,
    "check_limits": True,
}

#: recorder node parameters; ``config/recorder.yaml`` documents them.
RECORDER_PARAMS = {
    "output_dir": "mocap_recording",
    "bag": True,
    "lerobot": True,
    "robot_state_topic": "/joint_states",
    "skeletons_topic": "skeletons",
    "description_topic": "skeleton_description",
    "trajectory_topic": "/joint_trajectory_controller/joint_trajectory",
    "cameras": [""],
    "image_topics": [""],
    "extra_topics": [""],
    "task": "teleoperation demonstration",
    "auto_start": False,
    "fps": 30,
    "max_age_s": 0.2,
    "robot_type": "ur5",
    "person_id": -1,
    "video_codec": "libx264",
}
