"""Write meshes as ASCII PLY or OBJ."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_mesh(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write ``vertices (V, 3)`` metres and ``faces (F, 3)`` to ``.ply`` or ``.obj`` (by extension)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    v = np.asarray(vertices, float)
    f = np.asarray(faces, int)
    if path.suffix == ".obj":
        lines = [f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in v] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in f]
    else:
        lines = ["ply", "format ascii 1.0", f"element vertex {len(v)}", "property float x", "property float y",
                 "property float z", f"element face {len(f)}", "property list uchar int vertex_indices",
                 "end_header"]
        lines += [f"{a:.6f} {b:.6f} {c:.6f}" for a, b, c in v] + [f"3 {a} {b} {c}" for a, b, c in f]
    path.write_text("\n".join(lines) + "\n")
    return path
