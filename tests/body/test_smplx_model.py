"""SMPL-X layer: stand-in file structure, exact agreement with the smplx package, safe loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.body.smplx_model import SmplxModel
from mocap.body.standin import N_FACES, N_VERTS, make_standin_smplx
from mocap.errors import DataError


@pytest.fixture(scope="module")
def standin_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("smplx")
    make_standin_smplx(d / "SMPLX_NEUTRAL.npz")
    return d


def test_standin_structure(standin_dir):
    with np.load(standin_dir / "SMPLX_NEUTRAL.npz") as z:
        assert z["v_template"].shape == (N_VERTS, 3)
        assert z["f"].shape == (N_FACES, 3)
        assert z["posedirs"].shape == (N_VERTS, 3, 486)
        assert np.allclose(z["weights"].sum(1), 1.0)
        par = z["kintree_table"][0][1:]
        assert (par < np.arange(1, 55)).all()


def test_forward_matches_smplx_package(standin_dir):
    import smplx

    m = SmplxModel(standin_dir, dtype=torch.float64)
    ref = smplx.SMPLX(str(standin_dir / "SMPLX_NEUTRAL.npz"), use_pca=False, flat_hand_mean=True,
                      dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    B = 2
    pose = 0.3 * torch.randn(B, 55, 3, generator=g, dtype=torch.float64)
    betas = torch.randn(B, 10, generator=g, dtype=torch.float64)
    transl = torch.randn(B, 3, generator=g, dtype=torch.float64)
    o = ref(betas=betas, global_orient=pose[:, 0], body_pose=pose[:, 1:22].reshape(B, -1), jaw_pose=pose[:, 22],
            leye_pose=pose[:, 23], reye_pose=pose[:, 24], left_hand_pose=pose[:, 25:40].reshape(B, -1),
            right_hand_pose=pose[:, 40:55].reshape(B, -1), transl=transl,
            expression=torch.zeros(B, 10, dtype=torch.float64))
    out = m.forward(betas, pose, transl + m.rest_state(betas).joints[:, 0])
    assert torch.allclose(out.joints, o.joints[:, :55], atol=1e-6)
    assert torch.allclose(out.vertices, o.vertices, atol=1e-6)


def test_missing_file_says_where_and_how(tmp_path):
    with pytest.raises(DataError, match="models/smplx") as e:
        SmplxModel(tmp_path)
    assert "smpl-x.is.tue.mpg.de" in str(e.value)


def test_pickle_refused_without_opt_in(tmp_path):
    (tmp_path / "SMPLX_NEUTRAL.pkl").write_bytes(b"not really a pickle")
    with pytest.raises(DataError, match="pickle"):
        SmplxModel(tmp_path)
