"""Option names and defaults of the live core (:class:`mocap.live.core.FusionCore`), importable without loading the
reconstruction stack: the ROS 2 nodes declare them as parameters, ``mocap live`` reads the same names."""

from __future__ import annotations

from typing import Any

#: Options of the core and their defaults, by name: what the ROS fusion node declares as parameters (plus its
#: topics) and what ``mocap live`` reads. :meth:`FusionCore.from_params` turns them into a core.
CORE_PARAMS: dict[str, Any] = {
    "joint_set": "",  # joint set of the 2D keypoints; "" = the first frame's (Keypoints2D.joint_set)
    # kalman: the benchmarked online default (OnlineTriangulator: constant-velocity Kalman with an innovation gate;
    # its prediction is the view-selection prior). On the Pose2Sim demo after `mocap demo` (BlazePose 2D) it is
    # median 3.1 / p95 16.6 mm from the offline unfiltered triangulation (one_euro: the filter_* options below)
    "filter": "kalman",  # kalman | one_euro | none
    "filter_min_cutoff": 1.0,  # one_euro: Hz, cut-off at rest (lower = smoother when still)
    "filter_beta": 40.0,  # one_euro: speed coefficient, s/m (higher = less lag when moving)
    "filter_d_cutoff": 5.0,  # one_euro: Hz, cut-off of the speed estimate (higher = reacts sooner to motion)
    "min_conf": 0.1,  # detections below this confidence are ignored
    "min_views": 2,  # cameras needed to triangulate a joint
    # views reprojecting further are outliers; 0 = auto, as offline: max(15 px, 3.5 x the median view residual of
    # the last frames), so a camera a little off (calibration, sync, detector) keeps its views
    "reproj_threshold_px": 0.0,
    "soft_factor": 3.0,  # views up to this x the threshold still count, down-weighted (0 = off)
    "fallback_factor": 2.0,  # a joint no view subset passes gets the best pair within this x the threshold (0 = hole)
    "refine": True,  # Gauss-Newton refinement of the reprojection error (OnlineTriangulator's default)
    "bones": True,  # constrain rigid bones to the lengths learned so far (running median, never a future frame)
    "use_prior": True,  # prior for robust view selection: the Kalman prediction (else the previous output)
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
