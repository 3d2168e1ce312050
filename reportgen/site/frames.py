"""The frame player's data beside an animated GIF: the GIF's bytes as a script, since a page opened from
disk may load a script but may neither fetch a file nor read back the pixels of an image it shows."""
from __future__ import annotations

import base64
from pathlib import Path

from ..store.io import naming

CALL = "reportgenFrames"  # what the script calls: templates/player.js defines it


def write_frames(gif: Path) -> Path:
    """Write <stem>.frames.js beside `gif` (base64: a third larger than the GIF; gzip, as GitHub Pages
    serves it, takes most of that back) and return its path."""
    target = gif.with_name(f"{gif.stem}.frames.js")
    data = base64.b64encode(gif.read_bytes()).decode()
    with naming(target):
        target.write_text(f'{CALL}(document.currentScript, "{data}");\n')
    return target
