"""Frame sources (video files, image folders, USB/IP cameras, RealSense) and time synchronisation.

``from mocap.sources import VideoFileSource, MultiSource``; RealSense is imported lazily
(``mocap.sources.realsense.RealSenseSource``) because pyrealsense2 must not load before rclpy.
"""

from mocap.sources.base import Frame, FrameSource, MultiFrame
from mocap.sources.camera import OpenCVCameraSource
from mocap.sources.multi import MultiSource, check_consistency
from mocap.sources.offset import OffsetEstimate, estimate_offset, estimate_offsets, motion_signal
from mocap.sources.video import ImageFolderSource, VideoFileSource, find_videos, open_source

__all__ = [
    "Frame", "FrameSource", "MultiFrame", "OpenCVCameraSource", "MultiSource", "check_consistency",
    "OffsetEstimate", "estimate_offset", "estimate_offsets", "motion_signal", "ImageFolderSource",
    "VideoFileSource", "find_videos", "open_source",
]
