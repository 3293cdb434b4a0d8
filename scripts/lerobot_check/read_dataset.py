"""Load a dataset with LeRobot's own reader and print what it saw as JSON (runs inside .venv-lerobot).

Usage: .venv-lerobot/bin/python scripts/lerobot_check/read_dataset.py ROOT [FRAME_INDEX ...]

Prints: episodes, frames, fps, features, per-episode lengths and tasks, and for each requested global frame index
its episode/frame indices, timestamp, state/action vectors and, per camera, the decoded image's shape and mean
value per channel (0..1). Offline: HF_HUB_OFFLINE is set, nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def declare_torchvision_ops() -> bool:
    """torchvision's PyPI wheel is linked against CUDA torch: its compiled ops (``_C.so``: NMS, ROI align ...) do
    not load next to the CPU build of torch, and ``import torchvision`` then fails registering fake kernels for
    ``torchvision::nms`` / ``qnms``. The dataset reader never calls them (lerobot imports torchvision for its image
    transforms). Declare those two schemas so that torchvision imports; True when that was needed."""
    import glob
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torchvision")
    so = glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so")) if spec else []
    try:
        if so:
            torch.ops.load_library(so[0])
            return False
    except OSError:
        pass
    lib = torch.library.Library("torchvision", "DEF")  # noqa: F841 - kept alive for the process
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    declare_torchvision_ops.lib = lib
    return True


def main(argv: list[str]) -> int:
    shimmed = declare_torchvision_ops()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = argv[0]
    ds = LeRobotDataset("local/mocap_demonstrations", root=root)
    meta = ds.meta
    out = {
        "num_episodes": ds.num_episodes, "num_frames": ds.num_frames, "fps": ds.fps,
        "features": {k: {"dtype": v["dtype"], "shape": list(v["shape"])} for k, v in ds.features.items()},
        "camera_keys": list(meta.camera_keys), "video_backend": ds.video_backend,
        "episode_lengths": [int(x) for x in meta.episodes["length"]],
        "episode_tasks": [list(x) for x in meta.episodes["tasks"]],
        "frames": {}, "torchvision_ops_declared": shimmed,
    }
    for arg in argv[1:]:
        item = ds[int(arg)]
        f = {k: (v.tolist() if hasattr(v, "tolist") and v.ndim <= 1 else None) for k, v in item.items()
             if k not in meta.camera_keys}
        f["task"] = item.get("task")
        for cam in meta.camera_keys:
            img = item[cam]
            f[cam] = {"shape": list(img.shape), "mean": img.float().mean(dim=(1, 2)).tolist()}
        out["frames"][arg] = f
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
