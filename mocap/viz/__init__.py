"""mocap.viz."""
