"""Parameters (names and defaults) of the nodes; no ROS import. ``config/multiview.yaml`` documents them."""

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
    "replay_time_base": 0.0,
    "replay_start_wall": 0.0,
    "keypoints_topic": "/mocap/cameras/{camera}/keypoints2d",
    "camera_info_topic": "/mocap/cameras/{camera}/camera_info",
    "frame_id": "",
}

#: fusion node parameters
FUSION_PARAMS = {
    "calibration": "",
    "cameras": [""],
    "joint_set": "coco17",
    "keypoints_topic": "/mocap/cameras/{camera}/keypoints2d",
    "skeletons_topic": "/mocap/skeletons",
    "world_frame": "world",
    "sync_tolerance_s": 0.008,
    "max_wait_s": 0.1,
    "min_cameras": 2,
    "clock_jump_s": 1.0,
    "filter": "one_euro",
    "filter_min_cutoff": 2.0,
    "filter_beta": 20.0,
    "min_conf": 0.1,
    "reproj_threshold_px": 15.0,
    "refine": False,
    "use_prior": True,
    "publish_markers": True,
    "publish_tf": True,
    "publish_joint_state": True,
    "body_model": "",
    "body_model_path": "",
    "imu_topic": "",
    "imu_timeout_s": 1.0,
    "warn_period_s": 2.0,
}
