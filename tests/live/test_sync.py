"""FrameSynchronizer: grouping by stamp, missing cameras, late messages, clock jumps (pure Python)."""

from __future__ import annotations

import numpy as np

from mocap.live import sync

CAMS = ["a", "b", "c"]


def test_complete_groups_emitted_in_order_with_jitter():
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=1.0)
    rng = np.random.default_rng(0)
    out = []
    for i in range(20):
        t = i / 30
        for c in rng.permutation(CAMS):
            groups, events = s.add(str(c), t + rng.uniform(-0.002, 0.002), (i, c), now=0.0)
            assert not events
            out += groups
    assert len(out) == 20
    assert all(g.n_present == 3 for g in out)
    assert [g.frames["a"][0] for g in out] == list(range(20))
    assert np.all(np.diff([g.stamp for g in out]) > 0)


def test_missing_camera_emitted_after_timeout_and_when_newer_group_completes():
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1, camera_timeout_s=10.0)
    assert s.add("a", 0.0, 1, now=0.0)[0] == []
    assert s.add("b", 0.0, 1, now=0.01)[0] == []
    assert s.poll(now=0.05)[0] == []
    groups, _ = s.poll(now=0.2)
    assert len(groups) == 1 and groups[0].missing == ["c"]
    # a newer complete group flushes an older incomplete one
    s.add("a", 1 / 30, 2, now=0.3)
    s.add("b", 1 / 30, 2, now=0.3)
    for c in CAMS:
        groups, _ = s.add(c, 2 / 30, 3, now=0.31)
    assert [g.n_present for g in groups] == [2, 3]
    assert s.counts["incomplete"] == 2


def test_too_few_cameras_dropped_and_reported():
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1, min_cameras=2)
    s.add("a", 0.0, 1, now=0.0)
    groups, events = s.poll(now=1.0)
    dropped = [e for e in events if e.kind == "dropped_group"]
    assert groups == [] and len(dropped) == 1 and "only 1 of 3" in dropped[0].message


def test_late_message_dropped_and_unknown_camera_reported():
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1)
    for c in CAMS:
        s.add(c, 1.0, 1, now=0.0)
    groups, events = s.add("a", 0.9, 0, now=0.1)
    assert groups == [] and events[0].kind == "late" and "'a'" in events[0].message
    groups, events = s.add("zz", 1.1, 0, now=0.1)
    assert events[0].kind == "unknown_camera"


def test_clock_jump_back_and_forward_reset():
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1, clock_jump_s=1.0)
    for c in CAMS:
        s.add(c, 100.0, 1, now=0.0)
    _, events = s.add("a", 5.0, 2, now=0.1)  # back by 95 s (e.g. a bag restarted)
    assert [e.kind for e in events] == ["clock_jump"]
    for c in "bc":
        groups, events = s.add(c, 5.0, 2, now=0.1)
    assert len(groups) == 1 and groups[0].stamp == 5.0
    _, events = s.add("a", 50.0, 3, now=0.2)
    assert [e.kind for e in events] == ["clock_jump"] and "forward" in events[0].message
    assert s.counts["clock_jumps"] == 2


def test_silent_camera_is_not_waited_for_until_it_speaks_again():
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1, camera_timeout_s=0.25)
    dt = 1 / 30
    waited = []
    for i in range(30):  # camera c dies after frame 5; a and b go on in real time
        now = i * dt
        for c in CAMS if i <= 5 else "ab":
            groups, _ = s.add(c, i * dt, i, now=now)
        emitted = groups + s.poll(now + 0.001)[0]
        waited.append(not any(g.frames["a"] == i for g in emitted))
    # frames 6.. wait (emitted by max_wait or a newer group) until c is silent for 0.25 s, then at once
    first_prompt = next(i for i in range(6, 30) if not waited[i])
    assert 6 < first_prompt <= 6 + int(0.25 / dt) + 2 and not any(waited[first_prompt:])
    assert "c" in s.silent
    _, events = s.add("c", 30 * dt, 30, now=30 * dt)
    assert [e.kind for e in events] == ["resumed"] and "c" not in s.silent


def test_silent_event_reported_by_poll():
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1, camera_timeout_s=0.2)
    for c in CAMS:
        s.add(c, 0.0, 0, now=0.0)
    _, events = s.poll(now=0.5)
    assert sorted(e.camera for e in events if e.kind == "silent") == CAMS


def test_time_offsets_interpolate_like_the_offline_path():
    """A camera whose frame t + d shows the moment of the others' frame t: the synchroniser pairs each group with
    that camera's keypoints interpolated at the group's stamp, as mocap.sources.offset.apply_offsets does offline."""
    from mocap.keypoints import Keypoints2D
    from mocap.sources.offset import apply_offsets

    fps, T, d = 60.0, 40, 3.4
    data = np.random.default_rng(2).normal(size=(T, 3, 1, 17, 3)).cumsum(0)
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.5 / fps, max_wait_s=1.0, offsets_s={"c": d / fps})
    out = []
    for i in range(T):
        for k, c in enumerate(CAMS):
            out += s.add(c, i / fps, data[i, k], now=i / fps)[0]
    ref = apply_offsets(Keypoints2D(data, "coco17", CAMS, np.arange(T) / fps, fps), [0.0, 0.0, d]).data
    assert len(out) == T - 4  # frames 0..35: the last ones wait for camera c's next message
    for g in out:
        i = int(round(g.stamp * fps))
        assert g.n_present == 3
        np.testing.assert_allclose(g.frames["a"], data[i, 0])
        np.testing.assert_allclose(g.frames["c"], ref[i, 2], atol=1e-12)


def test_parse_offsets_and_from_params():
    assert sync.parse_offsets(["cam03:0.05", "", " cam01 : -0.01 "]) == {"cam03": 0.05, "cam01": -0.01}
    for bad in ("cam03", "cam03:x", ":0.1"):
        try:
            sync.parse_offsets([bad])
        except ValueError as e:
            assert bad in str(e)
        else:
            raise AssertionError(bad)
    s = sync.FrameSynchronizer.from_params(CAMS, {"time_offsets": ["b:0.02", "a:0.01"], "max_wait_s": 0.2,
                                                  "topic": "x"})
    assert s.offsets_s == {"a": 0.01, "b": 0.02, "c": 0.0} and s.interp_cameras == ["a", "b"]
    assert s.max_wait_s == 0.2


def test_timeout_waits_for_a_stalled_caller_and_for_offset_cameras():
    """A caller that stalled polls before it has taken the messages queued meanwhile: the group is not emitted
    incomplete while messages keep coming (only after three times the wait); a camera with a time offset extends
    the wait by its offset and one frame period."""
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1, camera_timeout_s=10.0)
    s.poll(now=0.0)
    s.add("a", 0.0, 1, now=0.0)
    groups, _ = s.poll(now=0.15)  # stalled 150 ms; "a" was added since the last poll: not a timeout yet
    assert groups == []
    s.add("b", 0.0, 1, now=0.151)
    groups, _ = s.add("c", 0.0, 1, now=0.152)  # the queued messages complete it
    assert len(groups) == 1 and groups[0].n_present == 3
    s.add("a", 1 / 30, 2, now=0.2)
    s.add("b", 1 / 30, 2, now=0.2)
    assert s.poll(now=0.25)[0] == []
    assert len(s.poll(now=0.31)[0]) == 1  # quiet since the last poll and past max_wait: emitted without c
    s2 = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1, camera_timeout_s=10.0,
                                offsets_s={"c": 0.05})
    for i, t in enumerate((0.0, 1 / 30)):
        s2.add("c", t, i, now=t)  # spacing 1/30 known
    s2.add("a", 0.1, 5, now=0.2)
    s2.add("b", 0.1, 5, now=0.2)
    s2.poll(now=0.25)
    assert s2.poll(now=0.33)[0] == []  # 0.13 s > max_wait but < 0.1 + 0.05 + 1/30 for the offset camera c
    assert len(s2.poll(now=0.39)[0]) == 1
