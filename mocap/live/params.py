"""Option names and defaults of the live core (:class:`mocap.live.core.FusionCore`), importable without loading the
reconstruction stack: the ROS 2 nodes declare them as parameters, ``mocap live`` reads the same names."""

from __future__ import annotations

from typing import Any

#: Options of the core and their defaults, by name: what the ROS fusion node declares as parameters (plus its
#: topics) and what ``mocap live`` reads. :meth:`FusionCore.from_params` turns them into a core.
CORE_PARAMS: dict[str, Any] = {
    "joint_set": "",  # joint set of the 2D keypoints; "" = the first frame's (Keypoints2D.joint_set)
    "filter": "one_euro",  # one_euro | kalman | none
    # One-Euro defaults chosen on the Pose2Sim demo (60 fps, MediaPipe 2D): median / p95 deviation from the
    # unfiltered offline triangulation 5.6 / 26.5 mm with frame-to-frame acceleration 26 % lower than unfiltered;
    # the earlier 2 Hz / 20 / 1 Hz lagged: 11.4 / 45.6 mm (see the ros notes of issue 13)
    "filter_min_cutoff": 1.0,  # one_euro: Hz, cut-off at rest (lower = smoother when still)
    "filter_beta": 40.0,  # one_euro: speed coefficient, s/m (higher = less lag when moving)
    "filter_d_cutoff": 5.0,  # one_euro: Hz, cut-off of the speed estimate (higher = reacts sooner to motion)
    "min_conf": 0.1,  # detections below this confidence are ignored
    "min_views": 2,  # cameras needed to triangulate a joint
    "reproj_threshold_px": 15.0,  # views reprojecting further are outliers
    "refine": True,  # Gauss-Newton refinement of the reprojection error (OnlineTriangulator's default)
    "use_prior": True,  # previous frame as prior for robust view selection
    "multi_person": True,  # several people per camera -> association + tracking
    "track_gate_m": 0.5,
    "track_min_hits": 1,
    "track_max_misses": 10,
    "predict_s": 0.0,  # output a person missed by every camera as "predicted" for this long (0 = off)
    "body_model": "",  # "" | anny | smplx
    "body_model_path": "",  # smplx: model file (.npz)
    "fps": 30.0,  # nominal camera frame rate (body fit)
    "fit_threads": 1,  # torch threads (1 is fastest for the fit; 0 = torch default)
    "fit_reinit_m": 0.1,  # re-initialise a person's fit when its mean keypoint error exceeds this (m)
    "imu_topics": [""],  # body-worn IMU sensor names (ROS: sensor_msgs/Imu topics) ...
    "imu_segments": [""],  # ... one "parent:child" joint pair each
    "imu_max_age_s": 0.1,
    "imu_min_align_frames": 30,
}
