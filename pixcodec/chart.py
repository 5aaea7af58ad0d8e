"""A horizontal bar chart as PNG bytes, drawn with Pillow (no plotting library needed for one chart)."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

WIDTH, BAR, GAP, LEFT, RIGHT, TOP = 640, 28, 12, 110, 70, 40


def bar_chart(values: dict[str, float], title: str) -> bytes:
    """One bar per label, longest value scaled to the plot width; the best (lowest) bar highlighted."""
    font = ImageFont.load_default()
    height = TOP + len(values) * (BAR + GAP) + GAP
    img = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((10, 12), title, fill="black", font=font)
    top = max(values.values(), default=1.0) or 1.0
    best = min(values, key=values.get) if values else None
    for k, (label, value) in enumerate(values.items()):
        y = TOP + k * (BAR + GAP)
        length = int((WIDTH - LEFT - RIGHT) * value / top)
        draw.text((10, y + BAR // 2 - 6), label, fill="black", font=font)
        draw.rectangle([LEFT, y, LEFT + max(length, 1), y + BAR], fill="#2b7bb9" if label == best else "#9bbcd6")
        draw.text((LEFT + length + 6, y + BAR // 2 - 6), f"{value:.3f}", fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
