"""mocap.body."""
