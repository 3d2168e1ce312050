"""What each frame of a GIF shows, in words: the comment block the GIF encoder writes before each frame, and
reading them back from the file's blocks alone (no pixel decoded, nothing imported that draws)."""
from __future__ import annotations

from pathlib import Path


def comment(text: str) -> bytes:
    """A GIF comment extension holding `text` (UTF-8, in sub-blocks of at most 255 bytes); none for ""."""
    data = text.encode()
    return b"!\xfe" + b"".join(bytes([len(data[k:k + 255])]) + data[k:k + 255]
                               for k in range(0, len(data), 255)) + b"\0" if data else b""


def read(gif: Path) -> list[str]:
    """Each frame's label, as Gif writes them ("" where a frame has none), read from the file's blocks
    without decoding any pixel."""
    data, found, comment = Path(gif).read_bytes(), [], ""
    at = 13 + (3 << (data[10] & 7) + 1 if data[10] & 0x80 else 0)

    def blocks(at: int) -> tuple[bytes, int]:  # the sub-blocks from `at` joined, and where they end
        parts = []
        while data[at]:
            parts.append(data[at + 1:at + 1 + data[at]])
            at += 1 + data[at]
        return b"".join(parts), at + 1

    while at < len(data) and data[at] != 0x3B:
        if data[at] == 0x21:  # an extension: a comment is kept for the next frame
            kind, (text, at) = data[at + 1], blocks(at + 2)
            comment = text.decode(errors="replace") if kind == 0xFE else comment
        else:  # a frame: its descriptor, local colours, LZW code size, then its data
            flags = data[at + 9]
            at = blocks(at + 10 + 1 + (3 << (flags & 7) + 1 if flags & 0x80 else 0))[1]
            found.append(comment)
            comment = ""
    return found
