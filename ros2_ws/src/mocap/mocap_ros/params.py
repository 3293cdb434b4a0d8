"""Parameters (names and defaults) of the nodes; no ROS import. ``config/multiview.yaml`` documents them."""

from mocap.live.core import CORE_PARAMS

MODES = ("replay", "video", "usb", "realsense")

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
    "start_delay_s": 0.0,
    "wait_subscribers": 0,
    "wait_timeout_s": 30.0,
    "settle_s": 0.5,
    "replay_time_base": 0.0,
    "replay_start_wall": 0.0,
    "keypoints_topic": "/mocap/cameras/{camera}/keypoints2d",
    "camera_info_topic": "/mocap/cameras/{camera}/camera_info",
    "frame_id": "",
}

#: fusion node parameters: its topics and outputs, the synchroniser's options, then the live core's
#: (:data:`mocap.live.core.CORE_PARAMS`, shared with ``mocap live``)
FUSION_PARAMS = {
    "calibration": "",
    "cameras": [""],
    "keypoints_topic": "/mocap/cameras/{camera}/keypoints2d",
    "skeletons_topic": "/mocap/skeletons",
    "world_frame": "world",
    "sync_tolerance_s": 0.008,
    "max_wait_s": 0.1,
    "min_cameras": 2,
    "clock_jump_s": 1.0,
    "publish_markers": True,
    "publish_tf": True,
    "publish_joint_state": True,
    "triangulated_topic": "/mocap/skeletons/triangulated",
    "imu_topic": "",
    "imu_timeout_s": 1.0,
    "warn_period_s": 2.0,
    **CORE_PARAMS,
}

#: teleop node parameters (teleop_core.TeleopConfig fields + topics); ``config/teleop.yaml`` documents them.
#: ``home`` (double array, radians) may also be set; unset = the robot's default home pose.
TELEOP_PARAMS = {
    "skeletons_topic": "/mocap/skeletons",
    "trajectory_topic": "/teleop/joint_trajectory",
    "estop_topic": "/teleop/estop",
    "target_topic": "/teleop/target",
    "active_topic": "/teleop/active",
    "base_frame": "base_link",
    "robot": "ur5",
    "urdf": "",
    "ee_frame": "",
    "person_id": -1,
    "arm": "right",
    "shoulder_joint": "",
    "elbow_joint": "",
    "wrist_joint": "",
    "body_frame": True,
    "reach": 0.35,
    "scale": [1.0, 1.0, 1.0],
    "offset": [0.4, -0.1, 0.5],
    "workspace_min": [0.1, -0.6, 0.1],
    "workspace_max": [0.7, 0.6, 0.9],
    "max_velocity": 1.0,
    "max_dt": 0.1,
    "smoothing": 0.5,
    "min_confidence": 0.3,
    "ik_iterations": 100,
    "ik_tolerance": 0.0001,
    "lost_timeout_s": 0.25,
}

#: recorder node parameters; ``config/recorder.yaml`` documents them.
RECORDER_PARAMS = {
    "output_dir": "mocap_recording",
    "bag": True,
    "lerobot": True,
    "skeletons_topic": "/mocap/skeletons",
    "trajectory_topic": "/teleop/joint_trajectory",
    "image_topics": [""],
    "extra_topics": ["/mocap/joint_states", "/tf"],
    "episode_topic": "/recorder/episode",
    "task": "teleoperation demonstration",
    "auto_start": True,
    "fps": 30.0,
    "robot_type": "ur5",
    "person_id": -1,
}
