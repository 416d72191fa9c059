"""Robustness of the invisible image watermark, side by side with invisible-watermark.

For every image of a set of real photos (crops and rescales of scikit-image's bundled
samples) and noise-like synthetic images (stand-ins for the tiny diffusion model's
outputs), the id is embedded by our watermarker and, with 64 random bits, by plain
invisible-watermark ``dwtDctSvd``; every attack is applied to both and both are read
back. Reported per attack: exact-id recovery rate, bit accuracy (decoded bits against
the embedded ones; 0.5 is chance) and PSNR of the marked image; then false id recovery
on unmarked images and embed/detect latency at 1024².

    .venv/bin/python bench/watermark_robustness.py            # ≥ 50 images, 1,000 unmarked
    .venv/bin/python bench/watermark_robustness.py --quick    # smoke run: 2 images
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provenance.watermark import WatermarkSettings, build_watermarker
from provenance.watermark.tiled import TiledWatermarker

BENCH_KEY = b"bench-key-0123456789abcdef012345"
Attack = Callable[[Image.Image, int], Image.Image]

PHOTOS = (
    "astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
    "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "brick.png", "grass.png",
    "gravel.png", "camera.png", "ihc.png", "moon.png", "cell.png", "coins.png", "color.png",
    "clock_motion.png",
)  # fmt: skip


PRODUCTS = ("astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "color.png")


# --- attacks ---------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=fmt, quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _resize(image: Image.Image, factor: float) -> Image.Image:
    size = (round(image.width * factor), round(image.height * factor))
    return image.resize(size, Image.Resampling.BICUBIC)


def _crop_corner(image: Image.Image, fraction: float, corner: int) -> Image.Image:
    """Remove ``fraction`` of the width and of the height, keeping one of the 4 corners."""
    keep_w, keep_h = round(image.width * (1 - fraction)), round(image.height * (1 - fraction))
    left = 0 if corner in (0, 2) else image.width - keep_w
    top = 0 if corner in (0, 1) else image.height - keep_h
    return image.crop((left, top, left + keep_w, top + keep_h))


def _rotate(image: Image.Image, degrees: float, *, expand: bool = False) -> Image.Image:
    """Turned like an editor does: bicubic, the uncovered corners filled with white."""
    return image.rotate(
        degrees, resample=Image.Resampling.BICUBIC, expand=expand, fillcolor=(255, 255, 255)
    )


def _rotate_and_crop(image: Image.Image, degrees: float) -> Image.Image:
    """Turned, then cropped to the largest centred rectangle without filled corners."""
    turned = image.rotate(degrees, resample=Image.Resampling.BICUBIC)
    sin, cos = abs(np.sin(np.radians(degrees))), np.cos(np.radians(degrees))
    width, height = image.size
    # Largest axis-aligned rectangle of the original aspect inside the turned frame.
    factor = min(width, height) / (min(width, height) * cos + max(width, height) * sin)
    keep_w, keep_h = round(width * factor), round(height * factor)
    left, top = (width - keep_w) // 2, (height - keep_h) // 2
    return turned.crop((left, top, left + keep_w, top + keep_h))


def _keystone(image: Image.Image, fraction: float, side: int) -> Image.Image:
    """A phone photo of a screen: one edge's two corners pulled in by ``fraction`` of it."""
    import cv2

    width, height = image.size
    dx, dy = fraction * width, fraction * height
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    target = source.copy()
    moves = {  # top, right, bottom, left edge shrinks
        0: ((0, (dx, 0)), (1, (-dx, 0))),
        1: ((1, (0, dy)), (2, (0, -dy))),
        2: ((2, (-dx, 0)), (3, (dx, 0))),
        3: ((3, (0, -dy)), (0, (0, dy))),
    }[side % 4]
    for corner, (mx, my) in moves:
        target[corner] += (mx, my)
    matrix = cv2.getPerspectiveTransform(source, target)
    pixels = np.asarray(image.convert("RGB"))
    warped = cv2.warpPerspective(
        pixels, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=(255, 255, 255)
    )
    return Image.fromarray(warped)


def _aspect(image: Image.Image, factor: float) -> Image.Image:
    """Stretched horizontally by ``factor`` (> 1) or vertically by its inverse."""
    width, height = image.size
    size = (round(width * factor), height) if factor >= 1 else (width, round(height / factor))
    return image.resize(size, Image.Resampling.BICUBIC)


def _phone_photo(image: Image.Image, index: int) -> Image.Image:
    """Perspective 3 %, a slight tilt, optical blur, then a JPEG 60 upload."""
    from PIL import ImageFilter

    tilted = _rotate(_keystone(image, 0.03, index), 2.0 if index % 2 else -2.0)
    return _encode(tilted.filter(ImageFilter.GaussianBlur(0.8)), "JPEG", 60)


def _signed(index: int) -> float:
    return 1.0 if index % 2 == 0 else -1.0


ATTACKS: dict[str, Attack] = {
    "none": lambda im, _: im,
    "jpeg90": lambda im, _: _encode(im, "JPEG", 90),
    "jpeg75": lambda im, _: _encode(im, "JPEG", 75),
    "jpeg50": lambda im, _: _encode(im, "JPEG", 50),
    "webp80": lambda im, _: _encode(im, "WEBP", 80),
    "resize0.5+back": lambda im, _: _resize(_resize(im, 0.5), 1.0).resize(im.size),
    "downscale0.75": lambda im, _: _resize(im, 0.75),
    "downscale0.5": lambda im, _: _resize(im, 0.5),
    "crop10%": lambda im, i: _crop_corner(im, 0.10, i % 4),
    "crop25%": lambda im, i: _crop_corner(im, 0.25, i % 4),
    "brightness+20%": lambda im, _: ImageEnhance.Brightness(im).enhance(1.2),
    "brightness-20%": lambda im, _: ImageEnhance.Brightness(im).enhance(0.8),
    "contrast+20%": lambda im, _: ImageEnhance.Contrast(im).enhance(1.2),
    "contrast-20%": lambda im, _: ImageEnhance.Contrast(im).enhance(0.8),
    # What a sharing pipeline does: shrink, crop, re-encode, in combination.
    "downscale0.5+jpeg75": lambda im, _: _encode(_resize(im, 0.5), "JPEG", 75),
    "crop10%+downscale0.5+jpeg75": lambda im, i: _encode(
        _resize(_crop_corner(im, 0.10, i % 4), 0.5), "JPEG", 75
    ),
    "rotate90+jpeg75": lambda im, _: _encode(im.transpose(Image.Transpose.ROTATE_90), "JPEG", 75),
    # Geometric attacks (issue 20); the sign of every angle alternates over the images.
    "rotate±2": lambda im, i: _rotate(im, 2 * _signed(i)),
    "rotate±5": lambda im, i: _rotate(im, 5 * _signed(i)),
    "rotate±15": lambda im, i: _rotate(im, 15 * _signed(i)),
    "rotate±30": lambda im, i: _rotate(im, 30 * _signed(i)),
    "rotate±30 expand": lambda im, i: _rotate(im, 30 * _signed(i), expand=True),
    "rotate±7+crop": lambda im, i: _rotate_and_crop(im, 7 * _signed(i)),
    "rotate±5+jpeg70": lambda im, i: _encode(_rotate(im, 5 * _signed(i)), "JPEG", 70),
    "keystone3%": lambda im, i: _keystone(im, 0.03, i),
    "keystone5%": lambda im, i: _keystone(im, 0.05, i),
    "aspect+10%": lambda im, _: _aspect(im, 1.10),
    "aspect-10%": lambda im, _: _aspect(im, 1 / 1.10),
    "phone photo": _phone_photo,
}


# --- images ----------------------------------------------------------------------------


@functools.cache
def _photo(name: str) -> Image.Image:
    import skimage

    with Image.open(Path(skimage.__file__).parent / "data" / name) as image:
        return image.convert("RGB")


def _noise_like(rng: np.random.Generator, size: int) -> Image.Image:
    """Smooth coloured noise with a few blobs: what an untrained tiny diffusion model makes."""
    import cv2

    base = rng.normal(0, 1, (size // 8, size // 8, 3)).astype(np.float32)
    coarse = cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 0.35, (size, size, 3)).astype(np.float32)
    array = 128 + 45 * (coarse + fine)
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _gradient(rng: np.random.Generator, size: int) -> Image.Image:
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    array = np.stack([ramp[None, :] * np.ones((size, 1), np.float32)] * 3, axis=-1)
    array += rng.normal(0, 3, array.shape).astype(np.float32)
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def photo_variants(rng: np.random.Generator) -> Iterator[tuple[str, Image.Image]]:
    """Crops and rescales of the bundled photos, short side 512–1024, varied aspect."""
    for name in PHOTOS:
        photo = _photo(name)
        for variant in range(3):
            short = int(rng.choice([512, 640, 768, 1024]))
            aspect = float(rng.choice([1.0, 1.0, 4 / 3, 3 / 4, 16 / 9]))
            crop_w = min(
                photo.width, round(min(photo.size) * min(aspect, 1.0) * 0.8 + 0.2 * photo.width)
            )
            crop_h = min(photo.height, round(crop_w / aspect))
            left = int(rng.integers(0, photo.width - crop_w + 1))
            top = int(rng.integers(0, photo.height - crop_h + 1))
            crop = photo.crop((left, top, left + crop_w, top + crop_h))
            factor = short / min(crop.size)
            size = (round(crop.width * factor), round(crop.height * factor))
            yield f"{name}#{variant}", crop.resize(size, Image.Resampling.LANCZOS)


def product_shots(rng: np.random.Generator) -> Iterator[tuple[str, Image.Image]]:
    """A photo pasted on a white or near-white canvas: the e-commerce listing image."""
    for index, name in enumerate(itertools.cycle(PRODUCTS)):
        canvas_size = (1024, 1024) if index % 2 == 0 else (1024, 768)
        white = 255 if index % 2 == 0 else 245
        canvas = Image.new("RGB", canvas_size, (white, white, white))
        photo = _photo(name)
        area = float(rng.uniform(0.25, 0.5)) * canvas_size[0] * canvas_size[1]
        width = round((area * photo.width / photo.height) ** 0.5)
        product = photo.resize((width, round(width * photo.height / photo.width)))
        left = (canvas.width - product.width) // 2
        top = (canvas.height - product.height) // 2
        canvas.paste(product, (left, top))
        yield f"product:{name}#{index}", canvas


def benchmark_images(count: int, seed: int = 7) -> list[tuple[str, Image.Image]]:
    """One fifth noise-like synthetic images, one eighth product shots, the rest photos."""
    rng = np.random.default_rng(seed)
    synthetic_count = max(1, count // 5)
    product_count = count // 8
    photo_count = count - synthetic_count - product_count
    photos = list(itertools.islice(photo_variants(rng), photo_count))
    products = list(itertools.islice(product_shots(rng), product_count))
    synthetic = [(f"noise#{i}", _noise_like(rng, 512)) for i in range(synthetic_count)]
    return photos + products + synthetic


def unmarked_images(count: int, seed: int = 11) -> Iterator[Image.Image]:
    """Crops of the photos (some stretched), noise and noisy gradients — none marked."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        kind = index % 6
        if kind >= 4:
            size = int(rng.choice([256, 384, 512]))
            yield _noise_like(rng, size) if kind == 4 else _gradient(rng, size)
            continue
        photo = _photo(PHOTOS[index % len(PHOTOS)])
        side = int(rng.integers(256, min(photo.size) + 1))
        left = int(rng.integers(0, photo.width - side + 1))
        top = int(rng.integers(0, photo.height - side + 1))
        crop = photo.crop((left, top, left + side, top + side))
        if kind == 3:
            crop = crop.resize((side * 3 // 2, side), Image.Resampling.BILINEAR)
        yield crop


def ours_watermarker(settings: WatermarkSettings) -> TiledWatermarker:
    marker = build_watermarker("tiled-ss", key=BENCH_KEY, settings=settings)
    assert isinstance(marker, TiledWatermarker)
    return marker


# --- measuring -------------------------------------------------------------------------


@dataclass
class Tally:
    recovered: int = 0
    trials: int = 0
    bit_accuracy: list[float] = field(default_factory=list)

    def add(self, exact: bool, accuracy: float) -> None:
        self.trials += 1
        self.recovered += exact
        self.bit_accuracy.append(accuracy)

    def row(self) -> str:
        rate = 100.0 * self.recovered / max(1, self.trials)
        return f"{rate:6.1f} % | {statistics.fmean(self.bit_accuracy or [0.0]):.3f}"


class Baseline:
    """Plain invisible-watermark dwtDctSvd with 64 bits, defaults otherwise."""

    def __init__(self) -> None:
        from imwatermark import WatermarkDecoder, WatermarkEncoder

        self._encoder = WatermarkEncoder()
        self._decoder = WatermarkDecoder("bits", 64)

    def embed(self, image: Image.Image, bits: list[int]) -> Image.Image:
        import cv2

        self._encoder.set_watermark("bits", bits)
        bgr = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
        marked = self._encoder.encode(bgr, "dwtDctSvd")
        return Image.fromarray(cv2.cvtColor(marked, cv2.COLOR_BGR2RGB))

    def bits(self, image: Image.Image) -> list[int]:
        import cv2

        bgr = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
        if bgr.shape[0] * bgr.shape[1] < 256 * 256:
            return [0] * 64
        return [int(b) for b in self._decoder.decode(bgr, "dwtDctSvd")]


def psnr(original: Image.Image, marked: Image.Image) -> float:
    a = np.asarray(original.convert("RGB"), dtype=np.float64)
    b = np.asarray(marked.convert("RGB"), dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ours_bit_accuracy(
    watermarker: TiledWatermarker, image: Image.Image, watermark_id: int
) -> float:
    trace = watermarker.trace(image)
    return trace.codeword_accuracy(watermark_id) if trace is not None else 0.5


def run_robustness(
    images: list[tuple[str, Image.Image]], with_baseline: bool, settings: WatermarkSettings
) -> None:
    ours = ours_watermarker(settings)
    baseline = Baseline() if with_baseline else None
    rng = np.random.default_rng(3)
    tallies = {name: (Tally(), Tally()) for name in ATTACKS}
    psnr_ours: list[float] = []
    psnr_base: list[float] = []
    failures: list[str] = []
    for index, (label, image) in enumerate(images):
        watermark_id = int(rng.integers(0, 1 << 48))
        marked = ours.embed(image, watermark_id)
        psnr_ours.append(psnr(image, marked))
        bits = [int(b) for b in rng.integers(0, 2, 64)]
        marked_base = baseline.embed(image, bits) if baseline else None
        if baseline and marked_base is not None:
            psnr_base.append(psnr(image, marked_base))
        for attack_name, attack in ATTACKS.items():
            attacked = attack(marked, index)
            reading = ours.detect(attacked)
            exact = reading.watermark_id == watermark_id
            if not exact:
                failures.append(f"{label}:{attack_name}")
            tallies[attack_name][0].add(exact, ours_bit_accuracy(ours, attacked, watermark_id))
            if baseline and marked_base is not None:
                decoded = baseline.bits(attack(marked_base, index))
                accuracy = float(np.mean([a == b for a, b in zip(decoded, bits, strict=True)]))
                tallies[attack_name][1].add(decoded == bits, accuracy)
    print(
        f"\n{len(images)} images; PSNR ours mean {statistics.fmean(psnr_ours):.2f} dB "
        f"(min {min(psnr_ours):.2f})",
        end="",
    )
    if psnr_base:
        print(f"; dwtDctSvd mean {statistics.fmean(psnr_base):.2f} dB (min {min(psnr_base):.2f})")
    print("\n| attack | ours: exact id | ours: bit acc. | dwtDctSvd 64 bit: exact | bit acc. |")
    print("|---|---|---|---|---|")
    for name, (mine, base) in tallies.items():
        base_row = base.row() if baseline else "  n/a | n/a"
        print(f"| {name} | {mine.row()} | {base_row} |")
    if failures:
        print(f"misses ({len(failures)}):", ", ".join(failures))


def run_false_positives(count: int, settings: WatermarkSettings) -> None:
    ours = ours_watermarker(settings)
    false_ids = present = 0
    sync_z: list[float] = []
    for image in unmarked_images(count):
        reading = ours.detect(image)
        false_ids += reading.watermark_id is not None
        present += reading.present
        trace = ours.trace(image)
        sync_z.append(trace.sync_z if trace is not None else 0.0)
    print(
        f"\nunmarked images: {count}; false id recoveries: {false_ids}; "
        f"reported present: {present}; highest sync z-score: {max(sync_z):.2f}"
    )


def _p50_ms(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU time is what 6 busy neighbours cannot inflate)."""
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        action()
        wall.append((time.perf_counter() - wall_start) * 1000)
        cpu.append((time.process_time() - cpu_start) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def _speed_row(name: str, embed: Callable[[], object], detect: Callable[[], object], n: int) -> str:
    embed_wall, embed_cpu = _p50_ms(embed, n)
    detect_wall, detect_cpu = _p50_ms(detect, n)
    return f"| {name} | {embed_wall:.0f} / {embed_cpu:.0f} | {detect_wall:.0f} / {detect_cpu:.0f} |"


def run_speed(repeats: int, with_baseline: bool, settings: WatermarkSettings) -> None:
    image = _photo("astronaut.png").resize((1024, 1024), Image.Resampling.LANCZOS)
    ours = ours_watermarker(settings)
    marked = ours.embed(image, 0x1234_5678_9ABC)
    cropped = _crop_corner(marked, 0.10, 3)
    print("\n| 1024² p50, wall / CPU ms | embed | detect |")
    print("|---|---|---|")
    embed = lambda: ours.embed(image, 0x1234_5678_9ABC)  # noqa: E731
    print(_speed_row("ours (tiled-ss), marked", embed, lambda: ours.detect(marked), repeats))
    print(_speed_row("ours, 10 % crop", embed, lambda: ours.detect(cropped), repeats))
    print(_speed_row("ours, unmarked", embed, lambda: ours.detect(image), repeats))
    if with_baseline:
        baseline = Baseline()
        bits = [1, 0] * 32
        marked_base = baseline.embed(image, bits)
        print(
            _speed_row(
                "invisible-watermark dwtDctSvd",
                lambda: baseline.embed(image, bits),
                lambda: baseline.bits(marked_base),
                max(3, repeats // 3),
            )
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--unmarked", type=int, default=1000)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--target-psnr-db", type=float, default=None)
    args = parser.parse_args(argv)
    settings = WatermarkSettings()
    if args.target_psnr_db is not None:
        settings = WatermarkSettings(target_psnr_db=args.target_psnr_db)
    images = args.images if not args.quick else 2
    unmarked = args.unmarked if not args.quick else 6
    with_baseline = not args.no_baseline and not args.quick
    print(f"target PSNR {settings.target_psnr_db} dB")
    run_robustness(benchmark_images(images), with_baseline, settings)
    run_false_positives(unmarked, settings)
    run_speed(2 if args.quick else 15, with_baseline, settings)


if __name__ == "__main__":
    main()
