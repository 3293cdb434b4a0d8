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
    s = sync.FrameSynchronizer(CAMS, tolerance_s=0.005, max_wait_s=0.1)
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
    assert groups == [] and [e.kind for e in events] == ["dropped_group"]
    assert "only 1 of 3" in events[0].message


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
