"""Chart fonts: labels can be Chinese, so charts prefer a font with CJK glyphs when one exists."""

from __future__ import annotations

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "Droid Sans Fallback")


def use_cjk_font(matplotlib) -> None:
    """Put the system's CJK fonts first in matplotlib's sans-serif list."""
    from matplotlib import font_manager

    available = {font.name for font in font_manager.fontManager.ttflist}
    chosen = [name for name in CJK_FONTS if name in available]
    matplotlib.rcParams["font.sans-serif"] = chosen + list(matplotlib.rcParams["font.sans-serif"])
