"""A decoded photo made into the sizes of the ladder, and samples that tell what a JPEG will weigh.

Every size is made from the pixels decoded for it with one good filter: Lanczos, after a box
`reduce` where the shrink is large (Pillow's `reducing_gap`). A JPEG is decoded to YCbCr, the
colour space it is stored and re-encoded in, which spares two colour conversions. Its brightness
is resized whole; its colour, which the encoder keeps at half resolution (4:2:0), is halved once
and resized at half resolution: a quarter of the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from PIL import Image

# Pillow's advice: 3.0 is indistinguishable from plain LANCZOS, and much faster on big shrinks.
REDUCING_GAP: Final = 3.0
# A sample is this many bands of one row of 4:2:0 blocks (16 pixels), spread over the image:
# bands never share a block, so together they weigh their share of the whole image.
_SAMPLE_BANDS: Final = 12
_BAND_ROWS: Final = 16
# Markers and (optimized) tables, which a sample carries once, as the whole image does.
_HEADER_BYTES: Final = 620

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Sample:
    """Bands of an image at one size, stacked: what they weigh tells what the whole weighs."""

    image: Image.Image
    share: float  # of the whole image's rows

    def estimate(self, jpeg: bytes) -> int:
        """Bytes of the whole image encoded as the sample was (`jpeg`)."""
        return round(_HEADER_BYTES + (len(jpeg) - _HEADER_BYTES) / self.share)


class Pixels:
    """A photo decoded at one scale, in RGB or YCbCr, made into smaller sizes."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image
        self.size = image.size
        self._planes: tuple[Image.Image, Image.Image, Image.Image] | None = None
        if image.mode == "YCbCr":
            # Colour halved once (a box filter), to about the resolution the encoder keeps.
            _, blue, red = image.reduce(2).split()
            self._planes = (image.getchannel(0), blue, red)

    def resized(self, size: tuple[int, int], box: Box | None = None) -> Image.Image:
        """The pixels (or those in `box`) at `size`."""
        if size == self.size and box is None:
            return self.image
        if self._planes is None:
            return self.image.resize(
                size, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP
            )
        luma, blue, red = self._planes
        halved = None if box is None else (box[0] / 2, box[1] / 2, box[2] / 2, box[3] / 2)
        return Image.merge(
            "YCbCr",
            (
                luma.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP),
                _colour(blue, size, halved),
                _colour(red, size, halved),
            ),
        )

    def sample(self, size: tuple[int, int]) -> Sample | None:
        """Bands of the pixels at `size`, made as `resized` makes the whole; None for an image
        small enough to encode whole (under four times a sample)."""
        width, height = size
        bands = height // _BAND_ROWS
        if bands < 4 * _SAMPLE_BANDS:
            return None
        scale = self.size[1] / height
        sample = Image.new(self.image.mode, (width, _BAND_ROWS * _SAMPLE_BANDS))
        for index in range(_SAMPLE_BANDS):
            top = (2 * index + 1) * bands // (2 * _SAMPLE_BANDS) * _BAND_ROWS
            box = (0.0, top * scale, float(self.size[0]), (top + _BAND_ROWS) * scale)
            sample.paste(self.resized((width, _BAND_ROWS), box), (0, index * _BAND_ROWS))
        return Sample(sample, _BAND_ROWS * _SAMPLE_BANDS / height)


def _colour(plane: Image.Image, size: tuple[int, int], box: Box | None) -> Image.Image:
    """A half-resolution colour plane at `size`: resized to half of it (colour is smooth: a
    bilinear filter does), then each pixel doubled, which the encoder's 2x2 averaging (4:2:0)
    undoes exactly."""
    width, height = size
    half = ((width + 1) // 2, (height + 1) // 2)
    kept = plane.resize(half, Image.Resampling.BILINEAR, box=box, reducing_gap=REDUCING_GAP)
    doubled = kept.resize((2 * half[0], 2 * half[1]), Image.Resampling.NEAREST)
    return doubled if doubled.size == size else doubled.crop((0, 0, width, height))
