"""Body models (SMPL-X, Anny) with one interface, and fitting them to 3D keypoints.

- :class:`~mocap.body.model.BodyModel`: shape + pose in; joints, vertices, rotations, skeleton out.
- :class:`~mocap.body.anny_model.AnnyModel` (default, Apache-2.0, no download) and
  :class:`~mocap.body.smplx_model.SmplxModel` (needs the licensed files in models/smplx/).
- :func:`~mocap.body.fit.fit_sequence`, :class:`~mocap.body.fit.OnlineFitter` -> :class:`BodyMotion`.
"""

from mocap.body.motion import BodyMotion

__all__ = ["BodyMotion", "fit_keypoints3d", "load_model"]


def fit_keypoints3d(kp3d, model="anny", **opts) -> BodyMotion:
    """Fit a body model to 3D keypoints; see :func:`mocap.body.fit.fit_keypoints3d`."""
    from mocap.body.fit import fit_keypoints3d as _fit

    return _fit(kp3d, model, **opts)


def load_model(name: str, **kwargs):
    """``"anny"`` -> :class:`AnnyModel`, ``"smplx"`` -> :class:`SmplxModel` (kwargs: path, gender, allow_pickle)."""
    from mocap.errors import MocapError

    if name == "anny":
        from mocap.body.anny_model import AnnyModel

        return AnnyModel(**{k: v for k, v in kwargs.items() if k in ("device", "dtype")})
    if name == "smplx":
        from mocap.body.smplx_model import SmplxModel

        return SmplxModel(**{k: v for k, v in kwargs.items() if v is not None or k != "path"})
    raise MocapError(f"unknown body model {name!r}", hint="use 'anny' or 'smplx'")
