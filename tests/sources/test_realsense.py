"""RealSense path without hardware: a .db3 recording of synthetic frames made with rs.software_device + rs.recorder,
played back through RealSenseSource. Runs in a subprocess so pyrealsense2 never shares a process with rclpy."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import sys, time
    import numpy as np
    import pyrealsense2 as rs
    from mocap.sources.realsense import RealSenseSource

    W, H, FPS, N = 64, 48, 30, 10
    path = sys.argv[1]
    sd = rs.software_device()
    ds, cs = sd.add_sensor("Depth"), sd.add_sensor("Color")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = W, H, 50.0, 51.0, 31.5, 24.25
    intr.model, intr.coeffs = rs.distortion.brown_conrady, [0.0] * 5
    def stream(typ, fmt, bpp, uid):
        v = rs.video_stream()
        v.type, v.fmt, v.bpp, v.index, v.uid = typ, fmt, bpp, 0, uid
        v.width, v.height, v.fps, v.intrinsics = W, H, FPS, intr
        return v
    dprof = ds.add_video_stream(stream(rs.stream.depth, rs.format.z16, 2, 0))
    cprof = cs.add_video_stream(stream(rs.stream.color, rs.format.bgr8, 3, 1))
    ds.add_read_only_option(rs.option.depth_units, 0.001)
    ex = rs.extrinsics(); ex.rotation = [1, 0, 0, 0, 1, 0, 0, 0, 1]; ex.translation = [0, 0, 0]
    dprof.register_extrinsics_to(cprof, ex)
    sd.create_matcher(rs.matchers.default)
    rec = rs.recorder(path, sd)
    ds.open(dprof); cs.open(cprof)
    ds.start(lambda f: None); cs.start(lambda f: None)
    rng = np.random.default_rng(0)
    colours, depths = {}, {}
    for k in range(N):
        d = rng.integers(300, 5000, (H, W)).astype(np.uint16)
        c = rng.integers(0, 255, (H, W, 3)).astype(np.uint8)
        colours[k], depths[k] = c, d
        for sensor, prof, arr, bpp in ((ds, dprof, d, 2), (cs, cprof, c, 3)):
            f = rs.software_video_frame()
            f.pixels, f.stride, f.bpp, f.timestamp = arr, W * bpp, bpp, k * 1000 / FPS
            f.domain, f.frame_number, f.profile = rs.timestamp_domain.hardware_clock, k, prof.as_video_stream_profile()
            sensor.on_video_frame(f)
        time.sleep(0.03)
    ds.stop(); cs.stop(); ds.close(); cs.close()
    del rec

    src = RealSenseSource(file=path)
    cam = src.camera
    assert src.size == (W, H) and src.fps == FPS, (src.size, src.fps)
    assert np.array_equal(cam.K, [[50.0, 0, 31.5], [0, 51.0, 24.25], [0, 0, 1]]), cam.K
    assert np.array_equal(cam.dist, np.zeros(5)) and cam.size == (W, H)
    assert abs(src.meta["depth_scale"] - 0.001) < 1e-9
    frames = list(src)
    # librealsense may drop frames when recording from a software device on a loaded machine (seen: 4 of 6, once in
    # CI-like runs) and at playback start; every frame that comes back must be exact, and most must come back
    assert len(frames) >= N // 2, len(frames)
    for fr in frames:
        assert np.array_equal(fr.image, colours[fr.index]), fr.index
        assert fr.depth.dtype == np.uint16 and np.array_equal(fr.depth, depths[fr.index]), fr.index
        assert abs(fr.timestamp_s - fr.index / FPS) < 1e-6
    print("OK", len(frames))
''')


def test_realsense_db3_roundtrip(tmp_path):
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "synthetic.db3")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr[-3000:]
