"""Animation export: BVH (read/write), FBX binary 7.4, glTF 2.0/GLB, C3D, TRC; keypoints -> skeleton IK.

Entry points: :class:`Animation` (local joint rotations of one skeleton, metres, Z-up world),
:func:`from_body_motion`, :func:`keypoints_to_animation`, :func:`read_bvh`, :func:`write_bvh`, :func:`write_fbx`,
:func:`write_gltf`, :func:`write_c3d`, :func:`apply_profile`, :func:`body_skinned_animation` (the body model's own
skinned mesh for glTF/FBX) and :func:`export_motion` (what ``mocap export`` runs).
"""

from mocap.export.animation import Animation, change_basis, fill_missing, from_body_motion, resample
from mocap.export.body_mesh import body_skinned_animation, skin_vertices
from mocap.export.bvh import read_bvh, write_bvh
from mocap.export.c3d import write_c3d, write_c3d_points, write_trc
from mocap.export.fbx import write_fbx
from mocap.export.gltf import SkinnedMesh, bone_mesh, write_gltf
from mocap.export.ik import STANDARD_JOINTS, fit_standard_skeleton, keypoints_to_animation
from mocap.export.io import FORMATS, MESHES, export_motion, load_motion
from mocap.export.profiles import PROFILES, apply_profile

__all__ = [
    "FORMATS", "MESHES", "PROFILES", "STANDARD_JOINTS", "Animation", "SkinnedMesh", "apply_profile",
    "body_skinned_animation", "bone_mesh",
    "change_basis", "export_motion", "fill_missing", "fit_standard_skeleton", "from_body_motion",
    "keypoints_to_animation", "load_motion", "read_bvh", "resample", "write_bvh", "write_c3d", "write_c3d_points",
    "skin_vertices", "write_fbx", "write_gltf", "write_trc",
]
