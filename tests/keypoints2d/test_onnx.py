"""ONNX backends checked exactly with tiny torch nets whose outputs are constants (exported in the test)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from mocap.errors import DataError  # noqa: E402
from mocap.keypoints2d.onnx_backend import OnnxTopDown, OnnxYoloPose  # noqa: E402
from mocap.keypoints2d.onnx_decode import box_to_center_scale, uncrop  # noqa: E402


class Const(torch.nn.Module):
    def __init__(self, *outs):
        super().__init__()
        self.outs = [torch.as_tensor(o, dtype=torch.float32) for o in outs]

    def forward(self, x):
        z = x.mean() * 0
        return tuple(o + z for o in self.outs) if len(self.outs) > 1 else self.outs[0] + z


def export(module, path, in_shape, n_out):
    names = [f"out{i}" for i in range(n_out)]
    torch.onnx.export(module, (torch.zeros(in_shape),), str(path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=names)
    return path


def test_simcc_topdown_exact(tmp_path):
    W, H, J, k = 48, 64, 3, 2.0
    true_in = np.array([[10.5, 20.0], [0.0, 63.5], [47.5, 31.0]])  # model-input pixels
    x = np.zeros((1, J, int(W * k)))
    y = np.zeros((1, J, int(H * k)))
    for j, (u, v) in enumerate(true_in):
        x[0, j, int(u * k)] = 0.9 - 0.1 * j
        y[0, j, int(v * k)] = 0.8
    pose = export(Const(x, y), tmp_path / "simcc.onnx", (1, 3, H, W), 2)
    box = np.array([100.0, 50.0, 160.0, 250.0])
    det = export(Const(np.array([[[*box * 0.5, 0.95]]]), np.zeros((1, 1))), tmp_path / "det.onnx", (1, 3, 320, 320),
                 2)
    img = np.zeros((400, 640, 3), np.uint8)  # letterbox r = 0.5 -> det boxes in input px are box * 0.5
    td = OnnxTopDown(pose, det_model=det)
    assert td.kind == "simcc" and td.split_ratio == 2.0
    out = td.detect(img)
    c, s = box_to_center_scale(box, (W, H), 1.25)
    expected = uncrop(true_in, c, s, (W, H))
    np.testing.assert_allclose(out[0, :, :2], expected, atol=1e-9)
    np.testing.assert_allclose(out[0, :, 2], [0.8, 0.8, 0.7], atol=1e-6)


def test_heatmap_subpixel(tmp_path):
    W, H, h, w = 48, 64, 16, 12
    peaks = np.array([[4.3, 7.6], [8.0, 3.25]])  # heatmap pixels
    yy, xx = np.mgrid[0:h, 0:w]
    hm = np.stack([np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 1.5 ** 2)) for px, py in peaks])[None]
    pose = export(Const(hm), tmp_path / "hm.onnx", (1, 3, H, W), 1)
    td = OnnxTopDown(pose)
    img = np.zeros((128, 96, 3), np.uint8)  # whole image = one box; same aspect as the input
    out = td.detect(img)
    in_px = (peaks + 0.5) * np.array([W / w, H / h]) - 0.5
    c, s = box_to_center_scale(np.array([0, 0, 96, 128.0]), (W, H), 1.25)
    np.testing.assert_allclose(out[0, :, :2], uncrop(in_px, c, s, (W, H)), atol=1e-4)


def test_yolo_pose_rows_nms_and_unletterbox(tmp_path):
    K, N = 17, 4
    rows = np.zeros((N, 5 + 3 * K))
    rng = np.random.default_rng(1)
    kp = rng.uniform(100, 500, (N, K, 2))
    for i, (cx, cy, w, h, sc) in enumerate([(300, 320, 100, 200, 0.9), (302, 322, 100, 200, 0.8),
                                           (100, 320, 50, 100, 0.7), (500, 320, 50, 100, 0.1)]):
        rows[i, :5] = (cx, cy, w, h, sc)
        rows[i, 5:] = np.concatenate([kp[i], np.full((K, 1), 0.5)], -1).ravel()
    model = export(Const(rows.T[None]), tmp_path / "yolo.onnx", (1, 3, 640, 640), 1)
    yp = OnnxYoloPose(model, max_people=3)
    img = np.zeros((480, 640, 3), np.uint8)  # r = 1, centred pad_y = 80
    boxes, scores, kpts = yp.detect_with_boxes(img)
    np.testing.assert_allclose(scores, [0.9, 0.7])  # row 1 suppressed by NMS, row 3 below threshold
    np.testing.assert_allclose(kpts[0, :, :2], kp[0] - [0, 80], atol=1e-4)
    np.testing.assert_allclose(kpts[1, :, :2], kp[2] - [0, 80], atol=1e-4)
    np.testing.assert_allclose(boxes[0], [250, 140, 350, 340], atol=1e-4)
    out = yp.detect(img)
    assert out.shape == (3, 17, 3) and np.isnan(out[2]).all()


def test_bad_models_are_named(tmp_path):
    bad = export(Const(np.zeros((1, 18, 5))), tmp_path / "weird.onnx", (1, 3, 64, 48), 1)
    with pytest.raises(DataError, match=r"weird\.onnx.*neither SimCC"):
        OnnxTopDown(bad)
    with pytest.raises(DataError, match=r"weird\.onnx: output 'out0' has shape \[1, 18, 5\]; expected \(1, 5 \+ 3\*K"):
        OnnxYoloPose(bad)
    simcc = export(Const(np.zeros((1, 3, 96)), np.zeros((1, 3, 100))), tmp_path / "mis.onnx", (1, 3, 64, 48), 2)
    with pytest.raises(DataError, match=r"mis\.onnx: SimCC outputs"):
        OnnxTopDown(simcc)
    with pytest.raises(DataError, match="does not exist"):
        OnnxTopDown(tmp_path / "none.onnx")
