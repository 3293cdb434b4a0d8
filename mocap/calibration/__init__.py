"""mocap.calibration."""
