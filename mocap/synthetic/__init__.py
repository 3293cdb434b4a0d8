"""mocap.synthetic."""
