"""Real face photos for tests, as the bytes a user would drop, and the awkward variants users drop.

Only real photographs (`face3d.samples`: scikit-image's astronaut, matplotlib's Grace Hopper).
Every builder returns bytes and is cached, so a large variant is made once per test session.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

import numpy as np
import pillow_heif
from PIL import ExifTags, Image, ImageCms

from face3d.samples import (
    astronaut_jpeg,
    decode,
    encode,
    grace_hopper_jpeg,
    large_view_jpegs,
    resized_jpeg,
    upscaled_48mp_jpeg,
    with_detail_jpeg,
)

__all__ = [
    "astronaut_jpeg",
    "decode",
    "encode",
    "grace_hopper_jpeg",
    "large_view_jpegs",
    "resized_jpeg",
    "upscaled_48mp_jpeg",
    "with_detail_jpeg",
]

TEXT_NAMED_JPG = b"Not a photo: a text file that someone saved as front.jpg.\n"

# Orientation tag -> transpose that turns an upright image into what a camera stores with it.
_STORED_FOR_ORIENTATION = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,  # shown after turning 90 degrees clockwise
    8: Image.Transpose.ROTATE_270,  # shown after turning 90 degrees counter-clockwise
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@cache
def grace_hopper_png() -> bytes:
    return as_png(grace_hopper_jpeg())


@cache
def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """`jpeg` stored turned, with the EXIF orientation that puts it upright, and a GPS position."""
    stored = decode(jpeg).transpose(_STORED_FOR_ORIENTATION[orientation])
    return encode(stored, quality=92, exif=_camera_exif(orientation).tobytes())


def _camera_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Test Camera"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    return exif


@cache
def as_phone_photo(jpeg: bytes, pillow_format: str, orientation: int = 6) -> bytes:
    """`jpeg` as a phone saves it in HEIF (HEIC) or AVIF: its colours in Display P3, tagged with
    that profile, stored turned with the EXIF orientation that puts it upright, and a GPS
    position. Prepared, it must look like `jpeg` again."""
    if pillow_format == "HEIF":
        pillow_heif.register_heif_opener()  # Pillow writes HEIC through pillow-heif
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    p3 = ImageCms.ImageCmsProfile(io.BytesIO(display_p3_icc()))
    in_p3 = ImageCms.profileToProfile(decode(jpeg).convert("RGB"), srgb, p3, outputMode="RGB")
    assert in_p3 is not None
    stored = in_p3.transpose(_STORED_FOR_ORIENTATION[orientation])
    return encode(
        stored,
        pillow_format,
        quality=90,
        exif=_camera_exif(orientation).tobytes(),
        icc_profile=display_p3_icc(),
    )


@cache
def with_icc_profile(jpeg: bytes, icc_profile: bytes) -> bytes:
    """The same pixels, tagged as being in the colour space `icc_profile` describes."""
    return encode(decode(jpeg), quality=92, icc_profile=icc_profile)


@cache
def as_png(jpeg: bytes) -> bytes:
    return encode(decode(jpeg), "PNG")


@cache
def as_webp(jpeg: bytes) -> bytes:
    return encode(decode(jpeg), "WEBP", quality=90)


@cache
def as_gif(jpeg: bytes) -> bytes:
    return encode(decode(jpeg), "GIF")


@cache
def as_tiff(jpeg: bytes) -> bytes:
    return encode(decode(jpeg), "TIFF")


@cache
def as_bmp(jpeg: bytes) -> bytes:
    return encode(decode(jpeg), "BMP")


@cache
def as_mpo(jpeg: bytes) -> bytes:
    """A phone-style MPO: the photo, then a second frame (here its mirror image)."""
    photo = decode(jpeg)
    second = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return encode(photo, "MPO", quality=92, save_all=True, append_images=[second])


@cache
def as_grayscale_jpeg(jpeg: bytes) -> bytes:
    return encode(decode(jpeg).convert("L"), quality=92)


@cache
def as_cmyk_jpeg(jpeg: bytes) -> bytes:
    """A CMYK JPEG as Photoshop writes them: Pillow stores the inverted Adobe form."""
    return encode(decode(jpeg).convert("CMYK"), quality=92)


@cache
def as_progressive_jpeg(jpeg: bytes) -> bytes:
    return encode(decode(jpeg), quality=92, progressive=True)


@cache
def as_sixteen_bit_png(jpeg: bytes) -> bytes:
    """The photo in grayscale at 16 bits per pixel (full 0..65535 range)."""
    gray = np.asarray(decode(jpeg).convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(gray), "PNG")


@cache
def with_transparent_border_png(jpeg: bytes, border: int = 48) -> bytes:
    """RGBA PNG whose border is fully transparent over black pixels: flattened, it must be white."""
    photo = decode(jpeg).convert("RGB")
    width, height = photo.size
    alpha = Image.new("L", photo.size, 0)
    alpha.paste(255, (border, border, width - border, height - border))
    hidden = Image.composite(photo, Image.new("RGB", photo.size, "black"), alpha)
    return encode(Image.merge("RGBA", (*hidden.split(), alpha)), "PNG")


@cache
def tiny_jpeg() -> bytes:
    """The astronaut at 150x150, under the API's 200 px minimum."""
    return resized_jpeg(astronaut_jpeg(), 150, 150)


@cache
def truncated_jpeg() -> bytes:
    whole = astronaut_jpeg()
    return whole[: len(whole) // 2]


@cache
def png_bomb(side: int) -> bytes:
    """A valid 1-bit `side`x`side` PNG: tiny on disk, `side`**2 pixels once decoded."""
    row = bytes(1 + (side + 7) // 8)  # filter byte, then black pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@cache
def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@cache
def lab_icc() -> bytes:
    """A valid profile that no photo can be converted to sRGB from."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()


@cache
def display_p3_icc() -> bytes:
    """An ICC v2 matrix/TRC profile of Display P3, the colour space iPhones write."""
    d50 = (0.9642, 1.0, 0.8249)
    # Display P3 primaries, adapted to D50 as in Apple's profile.
    red, green, blue = (0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841)
    return _matrix_icc("Display P3", d50, red, green, blue, gamma=2.2)


def _matrix_icc(
    description: str,
    white: tuple[float, float, float],
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
    gamma: float,
) -> bytes:
    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ " + bytes(4) + b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    text = description.encode("ascii") + b"\0"
    # textDescriptionType: ASCII, then empty Unicode and ScriptCode parts.
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(white)),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, content in tags:
        table += struct.pack(">4sII", signature, offset + len(body), len(content))
        body += content + bytes(-len(content) % 4)
    size = offset + len(body)
    header = (
        struct.pack(">I4sI4s4s4s", size, bytes(4), 0x02100000, b"mntr", b"RGB ", b"XYZ ")
        + bytes(12)  # creation date
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)  # platform, flags, manufacturer, model, attributes, intent
        + xyz(white)[8:]  # illuminant
        + bytes(4 + 16 + 28)  # creator, profile id, reserved
    )
    return header + struct.pack(">I", len(tags)) + table + body
