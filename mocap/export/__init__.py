"""mocap.export."""
