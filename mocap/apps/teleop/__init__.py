"""Robot teleoperation from the skeleton stream (:mod:`mocap.live.stream`): robot-agnostic, no ROS.

- :mod:`~mocap.apps.teleop.retarget`: the operator's arm -> end-effector pose (position and orientation),
  workspace scaling and clamping.
- :mod:`~mocap.apps.teleop.gripper`: gripper command from the hand opening (hand keypoints).
- :mod:`~mocap.apps.teleop.robot`: any URDF through pinocchio: limits, pose IK, self-collision.
- :mod:`~mocap.apps.teleop.trajectory`: joint limits and the minimum-jerk (quintic) trajectory generator.
- :mod:`~mocap.apps.teleop.safety`: the safety state machine (disarmed / armed / stopped).
- :mod:`~mocap.apps.teleop.controller`: all of it -> joint trajectories a JointTrajectoryController accepts.
- :mod:`~mocap.apps.teleop.sim_robot`: a simulated JointTrajectoryController for tests (not for real robots).

pinocchio (``pin``) and ``example-robot-data`` are needed by ``robot`` and ``controller`` only (the ``ros`` extra).
"""
