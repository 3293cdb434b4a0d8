"""Print-ready board sheets: PNG at a given resolution, PDF at exact physical size with the parameters."""

from __future__ import annotations

from pathlib import Path

import cv2

from mocap.calibration.boards import Board


def write_board_sheet(board: Board, path: str | Path, dpi: int = 300, margin_mm: float = 15.0) -> Path:
    """Write ``board`` to ``path`` (``.png`` or ``.pdf``).

    PNG: the pattern at ``dpi`` with a white margin (DPI stored in the file). PDF: a page of the pattern's
    physical size plus ``margin_mm`` on each side, pattern drawn at exact scale, parameters in the bottom margin.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    px_per_m = dpi / 0.0254
    img = board.generate_image(px_per_m)
    if path.suffix.lower() == ".pdf":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        w, h = board.physical_size
        m = margin_mm / 1000
        W, H = (w + 2 * m) / 0.0254, (h + 2 * m) / 0.0254
        fig = plt.figure(figsize=(W, H))
        ax = fig.add_axes([m / (w + 2 * m), m / (h + 2 * m), w / (w + 2 * m), h / (h + 2 * m)])
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest", aspect="auto")
        ax.axis("off")
        fig.text(0.5, 0.3 * m / (h + 2 * m), f"{board.describe()} - print at 100% (no scaling); "
                 f"pattern {w * 1000:.1f} x {h * 1000:.1f} mm", ha="center", fontsize=7)
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return path
    pad = int(round(margin_mm / 1000 * px_per_m))
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    cv2.putText(img, board.describe(), (pad, img.shape[0] - pad // 3), cv2.FONT_HERSHEY_SIMPLEX,
                max(pad / 120, 0.4), 0, 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)
    return path
