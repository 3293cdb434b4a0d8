"""SMPL-X through the ``smplx`` package's math, from ``models/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz``.

The model file is read with ``numpy.load(allow_pickle=False)`` (only the numeric arrays are used), so an ``.npz``
can never run code. ``.pkl`` files are refused unless ``allow_pickle=True`` is passed: unpickling runs code.

Pose convention (as smplx): 55 joints, local axis-angle rotations in the model's rest axes (y up, +x = body's left,
+z = forward), ``pose[:, 0]`` = global orientation. Shape = 10 betas (+10 expression, kept at 0 here).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from mocap.body.model import BodyModel, RestState
from mocap.body.standin import SMPLX_JOINT_NAMES
from mocap.errors import DataError
from mocap.skeletons.smplx_joints import SMPLX_RENAMES

REQUIRED = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights")
GENDERS = ("neutral", "male", "female")
DOWNLOAD_HINT = (
    "register at https://smpl-x.is.tue.mpg.de, download 'SMPL-X v1.1 (NPZ+PKL)' (models_smplx_v1_1.zip) and copy "
    "SMPLX_NEUTRAL.npz, SMPLX_MALE.npz and SMPLX_FEMALE.npz into models/smplx/ (or pass --model-path / set "
    "MOCAP_SMPLX_DIR); or use --model anny, which needs no download"
)


def default_model_dir() -> Path:
    """Where SMPL-X files are looked for: ``$MOCAP_SMPLX_DIR``, else ``./models/smplx``, else the repo's."""
    env = os.environ.get("MOCAP_SMPLX_DIR")
    if env:
        return Path(env)
    local = Path.cwd() / "models" / "smplx"
    if local.is_dir():
        return local
    return Path(__file__).resolve().parents[2] / "models" / "smplx"


def resolve_smplx_file(path: str | Path | None, gender: str = "neutral", allow_pickle: bool = False) -> Path:
    """The SMPL-X file to load (a file, or ``SMPLX_<GENDER>.npz`` inside a folder), checked to exist.

    Raises:
        DataError: missing file (saying where to put it and how to get it), unknown gender, or a ``.pkl`` without
            ``allow_pickle=True``.
    """
    gender = gender.lower()
    if gender not in GENDERS:
        raise DataError(f"unknown SMPL-X gender {gender!r}", hint=f"use one of {', '.join(GENDERS)}")
    p = default_model_dir() if path is None else Path(path)
    if p.is_dir():
        npz = p / f"SMPLX_{gender.upper()}.npz"
        pkl = p / f"SMPLX_{gender.upper()}.pkl"
        if npz.is_file():
            p = npz
        elif pkl.is_file():
            p = pkl
        else:
            raise DataError(f"no SMPL-X model file {npz.name} in {p}", hint=DOWNLOAD_HINT)
    if not p.is_file():
        raise DataError(f"SMPL-X model file {p} does not exist", hint=DOWNLOAD_HINT)
    if p.suffix == ".pkl" and not allow_pickle:
        raise DataError(
            f"refusing to load {p}: .pkl files are Python pickles, which run code when loaded",
            hint="use the .npz file from the same download, or pass allow_pickle=True if you trust this file",
        )
    if p.suffix not in (".npz", ".pkl"):
        raise DataError(f"SMPL-X model file {p} is neither .npz nor .pkl", hint=DOWNLOAD_HINT)
    return p


def load_smplx_arrays(path: Path, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """The numeric arrays of an SMPL-X model file (see :data:`REQUIRED`)."""
    if path.suffix == ".pkl":
        import pickle

        with open(path, "rb") as fh:
            raw = pickle.load(fh, encoding="latin1")  # noqa: S301 - opted in by allow_pickle=True
        data = {k: (v.toarray() if hasattr(v, "toarray") else np.asarray(v)) for k, v in raw.items()
                if k in REQUIRED or k.startswith("hands_")}
    else:
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files if k in REQUIRED}
        except (ValueError, OSError) as e:
            raise DataError(f"cannot read SMPL-X model file {path}: {e}", hint=DOWNLOAD_HINT) from None
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise DataError(f"SMPL-X model file {path} lacks arrays {missing}", hint=DOWNLOAD_HINT)
    if data["J_regressor"].shape[0] != 55 or data["kintree_table"].shape[1] != 55:
        raise DataError(f"{path} is not an SMPL-X file: it has {data['J_regressor'].shape[0]} joints, not 55",
                        hint=DOWNLOAD_HINT)
    return data


class SmplxModel(BodyModel):
    """SMPL-X (55 joints, 10 betas) with the :class:`~mocap.body.model.BodyModel` interface.

    Args:
        path: a model file or a folder with ``SMPLX_<GENDER>.npz`` (default: :func:`default_model_dir`).
        gender: ``"neutral"``, ``"male"`` or ``"female"``.
        num_betas: shape parameters used (<= the file's, at most 10 with 20-component files).
        allow_pickle: allow a ``.pkl`` model file (pickle runs code: only for files you trust).
        device, dtype: torch placement.
    """

    name = "smplx"

    def __init__(self, path: str | Path | None = None, gender: str = "neutral", num_betas: int = 10,
                 allow_pickle: bool = False, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__(device, dtype)
        self.path = resolve_smplx_file(path, gender, allow_pickle)
        self.gender = gender.lower()
        d = load_smplx_arrays(self.path, allow_pickle)
        t = dict(dtype=dtype, device=self.device)
        shapedirs = np.asarray(d["shapedirs"], float)
        n_avail = shapedirs.shape[-1] if shapedirs.shape[-1] < 400 else 300
        n_avail = min(n_avail, 10) if shapedirs.shape[-1] < 400 else n_avail
        self.n_shape = int(min(num_betas, n_avail))
        self.v_template = torch.as_tensor(np.asarray(d["v_template"], float), **t)
        self.shapedirs = torch.as_tensor(shapedirs[:, :, : self.n_shape], **t)
        self.posedirs = torch.as_tensor(np.asarray(d["posedirs"], float), **t)  # (V, 3, 486)
        self.J_regressor = torch.as_tensor(np.asarray(d["J_regressor"], float), **t)
        w = np.asarray(d["weights"], float)
        self.faces = np.asarray(d["f"], dtype=np.int64)
        par = np.asarray(d["kintree_table"][0], dtype=np.int64)
        par[0] = -1
        self.parents = par
        self.joint_names = SMPLX_JOINT_NAMES
        self.canonical_names = {i: SMPLX_RENAMES.get(n, n) for i, n in enumerate(SMPLX_JOINT_NAMES)}
        # joints are linear in the betas: precompute the regressed template and directions
        self.J_template = self.J_regressor @ self.v_template  # (55, 3)
        self.J_dirs = torch.einsum("jv,vcs->jcs", self.J_regressor, self.shapedirs)  # (55, 3, S)
        # sparse skinning: the K largest weights per vertex, renormalised
        k = int(min(8, max(1, (w > 1e-6).sum(1).max())))
        idx = np.argsort(-w, axis=1)[:, :k]
        ww = np.take_along_axis(w, idx, 1)
        ww /= np.maximum(ww.sum(1, keepdims=True), 1e-12)
        self.skin_w = torch.as_tensor(ww, **t)
        self.skin_idx = torch.as_tensor(idx, device=self.device)

    def default_shape(self) -> torch.Tensor:
        return torch.zeros(self.n_shape, dtype=self.dtype, device=self.device)

    def rest_state(self, shape: torch.Tensor) -> RestState:
        shape = shape.reshape(-1, self.n_shape)
        q = self.J_template[None] + torch.einsum("jcs,bs->bjc", self.J_dirs, shape)
        return RestState(joints=q, bind_heads=q, bind_rot=None)

    def rest_vertices(self, shape: torch.Tensor, vertex_ids: torch.Tensor | None = None) -> torch.Tensor:
        shape = shape.reshape(-1, self.n_shape)
        if vertex_ids is None:
            return self.v_template[None] + torch.einsum("vcs,bs->bvc", self.shapedirs, shape)
        return self.v_template[vertex_ids][None] + torch.einsum("vcs,bs->bvc", self.shapedirs[vertex_ids], shape)

    def skinning(self, vertex_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if vertex_ids is None:
            return self.skin_w, self.skin_idx
        return self.skin_w[vertex_ids], self.skin_idx[vertex_ids]

    def pose_offsets(self, local_rot: torch.Tensor, vertex_ids: torch.Tensor | None) -> torch.Tensor:
        eye = torch.eye(3, dtype=local_rot.dtype, device=local_rot.device)
        feat = (local_rot[:, 1:] - eye).reshape(local_rot.shape[0], -1)  # (B, 486)
        pd = self.posedirs if vertex_ids is None else self.posedirs[vertex_ids]
        return torch.einsum("vcp,bp->bvc", pd, feat)

    def smplx_translation(self, shape: torch.Tensor, root_position: torch.Tensor) -> torch.Tensor:
        """smplx/AMASS ``transl`` ``(B, 3)`` for world root (pelvis) positions ``(B, 3)``: ``root - J_pelvis``."""
        return root_position - self.rest_state(shape).joints[:, 0]
