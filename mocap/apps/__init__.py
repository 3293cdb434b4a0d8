"""Live consumers of the skeleton stream (:mod:`mocap.live.stream`), robot- and transport-agnostic.

- :mod:`mocap.apps.vmc`: VMC protocol sender (avatars in VSeeFace, Warudo, VNyan, VMagicMirror, Unity/EVMC4U).
- :mod:`mocap.apps.gestures`: skeleton -> game-style events and axes (OSC, VMC keys, callbacks, JSON lines).
- :mod:`mocap.apps.viewer`: Rerun logging of skeletons, cameras and 2D keypoints (optional ``rerun-sdk``).
- helpers: :mod:`~mocap.apps.humanoid` (retarget onto Unity's humanoid bones, T-pose calibration),
  :mod:`~mocap.apps.keypoint_rig` (keypoint skeletons -> the IK rig's standard skeleton, frame by frame),
  :mod:`~mocap.apps.unity` (REP 103 -> Unity axes), :mod:`~mocap.apps.face` (blendshapes from face keypoints),
  :mod:`~mocap.apps.offline` (3D keypoint / body-motion files as a skeleton stream).
"""
