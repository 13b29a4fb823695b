"""The ladder of (long side, quality) steps, and finding the best step at which a request fits.

Encoding 12-MP photos at every step tried is what made preparation slow, so the search is led by a
model of JPEG sizes and checked by real encodings only where they decide:

1. predict the first step that fits from the sources alone (their bytes per pixel), which also
   picks the scale each photo is decoded at;
2. encode once at that step; if the request is over after all, correct once: the model, scaled
   by what the encoding weighed, predicts the next step to encode;
3. make sure the steps before do not fit: a step's size is bounded from below by the next one's,
   or estimated from a sample of the image at that step (a few bands of it, encoded together:
   within about 2% of the real size); only steps that these cannot rule out are encoded.

Every step returned has been seen to fit by a real encoding, and the step before it has been seen
not to fit, either by a real encoding or by an estimate over the budget by more than the
estimates' error: the result is the best step, as an exhaustive search would find it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol


class Step(NamedTuple):
    long_side: int
    quality: int


# One ladder for all views of a request, from best to smallest. A face needs pixels more than it
# needs quality 95, so resolution gives way first, down to about 1000 px; heavy blocking hurts
# too, so quality gives way only there, and below 1000 px a smaller image at moderate quality
# beats a blocky one. 72 is the highest quality at which 896 px still comes out smaller than
# 1024 px at 65 on real photos: encoded sizes keep falling along the ladder.
LADDER: Final = (
    *(Step(side, 88) for side in (4096, 3584, 3072, 2560, 2048, 1792, 1536, 1280, 1024)),
    *(Step(1024, quality) for quality in (80, 72, 65)),
    *(Step(side, 72) for side in (896, 768, 640, 512, 384, 256)),
)

# Sampled estimates came within 2% of the real sizes on phone photos and smooth upscales: a step
# whose estimate is over the budget by more than twice that surely does not fit.
ESTIMATE_ERROR: Final = 0.04
# At one quality, a downscaled JPEG's bytes grow at least as the square root of its pixels (the
# exponent was 0.56 at the least, on smooth upscales; about 1 on phone photos): a step whose size
# this predicts from the next one's to be over the budget surely does not fit.
MIN_PIXEL_EXPONENT: Final = 0.5


class Estimate(NamedTuple):
    size: int  # bytes
    # Sampled from pixels decoded at a coarser scale than the step's own: smoother than the real
    # ones, so less than the real size. Enough to rule a step out, not to take it.
    lower_bound: bool = False


class SizedView(Protocol):
    """One view as the search sees it: what its JPEG would weigh at each step."""

    def predicted(self, step: Step) -> float:
        """Bytes at `step` guessed from the source alone, without decoding it."""
        ...

    def pixels(self, step: Step) -> int:
        """Pixels of the image at `step`."""
        ...

    def downscaled(self, step: Step) -> bool:
        """Whether the image at `step` is smaller than the photo."""
        ...

    def estimated(self, step: Step, *, decode: bool) -> Estimate:
        """Bytes at `step` from a sample, within ESTIMATE_ERROR of the real size. Without
        `decode`, a lower bound from pixels already decoded at a coarser scale will do."""
        ...

    def exact(self, step: Step) -> int:
        """Bytes of the JPEG at `step`, encoded."""
        ...


@dataclass(frozen=True)
class Budget:
    """What one request's images must fit: each file, and all of them after base64 together."""

    available: int  # bytes of base64 for all images
    max_file_bytes: int

    def fits(self, sizes: Sequence[float]) -> bool:
        total = 0
        for size in sizes:
            if size > self.max_file_bytes:
                return False
            total += base64_length(round(size))
        return total <= self.available


def base64_length(n: int) -> int:
    """Length of the base64 text (with padding) of `n` bytes."""
    return 4 * ((n + 2) // 3)


def best_step(views: Sequence[SizedView], budget: Budget) -> int | None:
    """Index in LADDER of the best step at which every view fits, or None if none does."""
    search = _Search(views, budget)
    index: int | None = search.predicted(0)
    while index is not None and not search.fits_exactly(index):
        index = search.corrected(index)
    if index is None:
        return None
    # Steps before it that estimates cannot rule out, back to the first one they can: the best
    # of them that fits when encoded is the answer (usually there are none).
    earliest = index
    while earliest > 0 and search.may_fit(earliest - 1):
        earliest -= 1
    return next(i for i in range(earliest, index + 1) if search.fits_exactly(i))


_LAST: Final = len(LADDER) - 1


class _Search:
    def __init__(self, views: Sequence[SizedView], budget: Budget) -> None:
        self._views = views
        self._budget = budget
        self._exact: dict[int, list[int]] = {}

    def predicted(self, start: int, scales: Sequence[float] | None = None) -> int:
        """The first step from `start` on that the model predicts to fit (the last if none)."""
        factors = scales or [1.0] * len(self._views)
        for index in range(start, _LAST):
            step = LADDER[index]
            sizes = [view.predicted(step) * f for view, f in zip(self._views, factors, strict=True)]
            if self._budget.fits(sizes):
                return index
        return _LAST

    def corrected(self, index: int) -> int | None:
        """The next step to encode after `index` did not fit: the model, scaled by what the
        encodings at `index` weighed, predicts it."""
        if index == _LAST:
            return None
        step = LADDER[index]
        scales = [
            size / max(view.predicted(step), 1.0)
            for view, size in zip(self._views, self._exact[index], strict=True)
        ]
        return self.predicted(index + 1, scales)

    def fits_exactly(self, index: int) -> bool:
        if index not in self._exact:
            self._exact[index] = [view.exact(LADDER[index]) for view in self._views]
        return self._budget.fits(self._exact[index])

    def may_fit(self, index: int) -> bool:
        """False if the step at `index` surely does not fit: what the next step weighs says so,
        or its estimate, even lowered by the estimates' error, is over the budget."""
        if index in self._exact:
            return self._budget.fits(self._exact[index])
        floor = self._floor_from_next(index)
        if floor is not None and not self._budget.fits(floor):
            return False
        step = LADDER[index]
        estimates = [view.estimated(step, decode=False) for view in self._views]
        if self._fits_lowered(estimates) and any(e.lower_bound for e in estimates):
            estimates = [view.estimated(step, decode=True) for view in self._views]
        return self._fits_lowered(estimates)

    def _fits_lowered(self, estimates: Sequence[Estimate]) -> bool:
        return self._budget.fits([estimate.size * (1 - ESTIMATE_ERROR) for estimate in estimates])

    def _floor_from_next(self, index: int) -> list[float] | None:
        """Least sizes at `index` given the encodings at the next step, if it is at the same
        quality and both are downscaled."""
        step, following = LADDER[index], LADDER[index + 1]
        if step.quality != following.quality or index + 1 not in self._exact:
            return None
        floor = []
        for view, size in zip(self._views, self._exact[index + 1], strict=True):
            if not view.downscaled(step):
                return None  # a photo re-encoded at its own size follows other rules
            floor.append(size * (view.pixels(step) / view.pixels(following)) ** MIN_PIXEL_EXPONENT)
        return floor


# Bytes at each quality relative to 88, on phone photos re-encoded below their own size: what the
# prediction from the source assumes (estimates and encodings then correct it).
QUALITY_FACTORS: Final = {88: 1.0, 80: 0.7, 72: 0.56, 65: 0.48}


def predicted_bytes(pixels: int, quality: int, bytes_per_pixel_at_88: float) -> float:
    return pixels * bytes_per_pixel_at_88 * QUALITY_FACTORS.get(quality, 1.0)
