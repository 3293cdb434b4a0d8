"""Body models (SMPL-X, Anny) with one interface, and fitting them to 3D keypoints.

- :class:`~mocap.body.model.BodyModel`: shape + pose in; joints, vertices, rotations, skeleton out.
- :class:`~mocap.body.anny_model.AnnyModel` (default, Apache-2.0, no download) and
  :class:`~mocap.body.smplx_model.SmplxModel` (needs the licensed files in models/smplx/).
- :func:`~mocap.body.fit.fit_sequence`, :class:`~mocap.body.fit.OnlineFitter` -> :class:`BodyMotion`.
"""

from mocap.body.motion import BodyMotion

__all__ = ["BodyMotion", "load_model"]


def load_model(name: str, **kwargs):
    """``"anny"`` -> :class:`AnnyModel`, ``"smplx"`` -> :class:`SmplxModel` (kwargs: path, gender, allow_pickle)."""
    from mocap.errors import MocapError

    if name == "anny":
        from mocap.body.anny_model import AnnyModel

        return AnnyModel(**{k: v for k, v in kwargs.items() if k in ("device", "dtype")})
    if name == "smplx":
        from mocap.body.smplx_model import SmplxModel

        return SmplxModel(**kwargs)
    raise MocapError(f"unknown body model {name!r}", hint="use 'anny' or 'smplx'")
