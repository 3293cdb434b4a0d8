"""mocap.keypoints2d."""
