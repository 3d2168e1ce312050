"""The README shows only what the build writes: every image it shows is docs/gallery/<experiment>/<file>, the same
bytes as site/<experiment>/<file> from a fresh build of that experiment on one CPU thread (docs/gallery/refresh)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGES = re.compile(r'!\[[^\]]*\]\(([^)\s]+)\)|<img[^>]*\ssrc="([^"]+)"')


def shown() -> list[str]:
    return [a or b for a, b in IMAGES.findall((ROOT / "README.md").read_text())]


def test_the_readme_shows_images_and_only_gallery_copies():
    assert shown() and all(p.startswith("docs/gallery/") and (ROOT / p).is_file() for p in shown()), shown()


def script_of(name: str) -> Path:
    return next(p for p in sorted((ROOT / "experiments").glob("*.py")) if f'name="{name}"' in p.read_text())


@pytest.mark.parametrize("name", sorted({Path(p).parts[2] for p in shown()}))
def test_each_readme_image_is_what_the_build_writes(name, tmp_path, one_thread):
    from reportgen import pipeline
    pipeline.build((script_of(name),), tmp_path / "runs", tmp_path / "site")
    for path in (p for p in shown() if Path(p).parts[2] == name):
        built = tmp_path / "site" / name / Path(path).name
        assert built.read_bytes() == (ROOT / path).read_bytes(), f"{path} is not what the build writes: docs/gallery/refresh"
