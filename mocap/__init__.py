"""mocap: markerless multi-view 3D motion capture."""

__version__ = "0.1.0"
