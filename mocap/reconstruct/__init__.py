"""mocap.reconstruct."""
