"""Body-model fixtures: the stand-in SMPL-X (built in ~1 s) and Anny (first build ever ~35-110 s, later ~1-2 s)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smplx_dir(tmp_path_factory):
    from mocap.body.standin import make_standin_smplx

    d = tmp_path_factory.mktemp("smplx")
    make_standin_smplx(d / "SMPLX_NEUTRAL.npz")
    return d


@pytest.fixture(scope="session")
def smplx_model(smplx_dir):
    from mocap.body.smplx_model import SmplxModel

    return SmplxModel(smplx_dir)


@pytest.fixture(scope="session")
def anny_model():
    """Built once per session; the first build on a machine fills ANNY_CACHE_DIR (~830 MB, 35-110 s)."""
    from mocap.body.anny_model import AnnyModel

    return AnnyModel()
