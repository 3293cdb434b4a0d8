"""Model files of the built-in detectors: set-up from the mediapipe wheel, sha256 checks, one-line errors."""

import shutil

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.keypoints2d import models


@pytest.fixture
def model_copy(tmp_path):
    """A model folder holding verified copies of the cached model files."""
    d = tmp_path / "blazepose"
    d.mkdir()
    for key, spec in models.BLAZEPOSE.items():
        shutil.copy(models.model_path(key), d / spec.name)
    return d


def test_fetch_copies_and_verifies(tmp_path):
    d = models.fetch_models(tmp_path / "m", quiet=True)
    for key, spec in models.BLAZEPOSE.items():
        p = models.model_path(key, d)
        assert p.stat().st_size == spec.size and models.sha256_of(p) == spec.sha256
    assert "Apache License, Version 2.0" in (d / "PROVENANCE.txt").read_text()
    models.fetch_models(d, quiet=True)  # idempotent


def test_missing_and_corrupt_files_say_what_to_run(model_copy):
    (model_copy / "pose_landmark_full.tflite").unlink()
    with pytest.raises(DataError) as e:
        models.model_path("landmark", model_copy)
    msg = str(e.value)
    assert "\n" not in msg and "is missing" in msg and "python -m mocap.keypoints2d.models" in msg
    det = model_copy / "pose_detection.tflite"
    data = bytearray(det.read_bytes())
    data[1000] ^= 0xFF
    det.write_bytes(bytes(data))
    with pytest.raises(DataError) as e:
        models.model_path("detector", model_copy)
    msg = str(e.value)
    assert "\n" not in msg and "corrupt" in msg and "sha256" in msg and "python -m mocap.keypoints2d.models" in msg
    models.fetch_models(model_copy, quiet=True)  # the set-up repairs both
    assert models.model_path("detector", model_copy).is_file()


def test_cli_prints_one_line_when_models_are_missing(tmp_path, monkeypatch, capsys):
    import cv2

    from mocap.cli.main import main

    video = tmp_path / "videos" / "cam1.avi"
    video.parent.mkdir()
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(3):
        w.write(np.zeros((48, 64, 3), np.uint8))
    w.release()
    monkeypatch.setenv("MOCAP_CACHE", str(tmp_path / "empty_cache"))
    rc = main(["detect", "--videos", str(video.parent), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("error: BlazePose model file") and "python -m mocap.keypoints2d.models" in err[0]
