import json

import numpy as np
import pytest

from mocap.errors import DataError, KeypointsError
from mocap.keypoints2d import read_deeplabcut_csv, read_mmpose_json, stack_cameras


def test_mmpose_inferencer_and_demo_layouts(tmp_path, rng):
    kp = rng.uniform(0, 500, (3, 2, 17, 2))
    sc = rng.uniform(0, 1, (3, 2, 17))
    preds = [[{"keypoints": kp[t, p].tolist(), "keypoint_scores": sc[t, p].tolist(), "bbox": [[0, 0, 1, 1]]}
              for p in range(2 if t != 1 else 1)] for t in range(3)]
    (tmp_path / "camA.json").write_text(json.dumps({"predictions": preds}))
    k = read_mmpose_json(tmp_path / "camA.json")
    assert k.data.shape == (3, 1, 2, 17, 3) and k.camera_names == ["camA"] and k.joint_set == "coco17"
    np.testing.assert_allclose(k.data[0, 0, 1, :, :2], kp[0, 1])
    np.testing.assert_allclose(k.data[2, 0, 0, :, 2], sc[2, 0])
    assert np.isnan(k.data[1, 0, 1]).all()
    demo = {"meta_info": {}, "instance_info": [{"frame_id": t + 1, "instances": preds[t]} for t in range(3)]}
    (tmp_path / "camB.json").write_text(json.dumps(demo))
    np.testing.assert_array_equal(read_mmpose_json(tmp_path / "camB.json").data, k.data)
    both = stack_cameras([k, read_mmpose_json(tmp_path / "camB.json")])
    assert both.camera_names == ["camA", "camB"] and both.data.shape == (3, 2, 2, 17, 3)
    preds[0][0]["keypoint_scores"] = [1.0]
    (tmp_path / "bad.json").write_text(json.dumps({"predictions": preds}))
    with pytest.raises(KeypointsError, match=r"bad\.json: frame 0 instance 0 has 1 keypoint_scores"):
        read_mmpose_json(tmp_path / "bad.json")


def test_deeplabcut_csv_single_and_multi(tmp_path):
    lines = ["scorer,DLC_resnet50,DLC_resnet50,DLC_resnet50,DLC_resnet50,DLC_resnet50,DLC_resnet50",
             "bodyparts,nose,nose,nose,tail,tail,tail",
             "coords,x,y,likelihood,x,y,likelihood",
             "0,10.5,20.25,0.9,30,40,0.1",
             "1,11,21,0.8,,,"]
    (tmp_path / "side.csv").write_text("\n".join(lines))
    k = read_deeplabcut_csv(tmp_path / "side.csv")
    assert k.data.shape == (2, 1, 1, 2, 3) and k.meta["bodyparts"] == ["nose", "tail"]
    np.testing.assert_allclose(k.data[0, 0, 0], [[10.5, 20.25, 0.9], [30, 40, 0.1]])
    assert np.isnan(k.data[1, 0, 0, 1]).all()
    multi = ["scorer,s,s,s,s,s,s", "individuals,m1,m1,m1,m2,m2,m2", "bodyparts,nose,nose,nose,nose,nose,nose",
             "coords,x,y,likelihood,x,y,likelihood", "0,1,2,0.5,3,4,0.6"]
    (tmp_path / "ma.csv").write_text("\n".join(multi))
    m = read_deeplabcut_csv(tmp_path / "ma.csv")
    assert m.data.shape == (1, 1, 2, 1, 3) and m.meta["individuals"] == ["m1", "m2"]
    np.testing.assert_allclose(m.data[0, 0, :, 0], [[1, 2, 0.5], [3, 4, 0.6]])
    (tmp_path / "no.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"no\.csv"):
        read_deeplabcut_csv(tmp_path / "no.csv")
