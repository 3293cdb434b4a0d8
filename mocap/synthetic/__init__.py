"""Synthetic multi-view captures from BVH motion, with exact ground truth (for tests and benchmarks)."""

from mocap.synthetic.bvh import BvhMotion, bvh_to_world, read_bvh
from mocap.synthetic.capture import COCO17, bvh_markers, corrupt_2d, make_capture, ring_rig

__all__ = ["BvhMotion", "read_bvh", "bvh_to_world", "COCO17", "bvh_markers", "corrupt_2d", "make_capture",
           "ring_rig"]
