"""mocap.sources."""
