"""mocap.datasets."""
