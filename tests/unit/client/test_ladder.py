"""Finding the best step of the ladder from predictions, sampled estimates and few encodings."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from face3d.client.ladder import LADDER, Budget, Estimate, Step, base64_length, best_step

# Raw bytes that fill a budget of `AVAILABLE` base64 bytes when split over three views.
AVAILABLE = 1_500_000
BUDGET = Budget(available=AVAILABLE, max_file_bytes=2_000_000)


@dataclass
class View:
    """A view whose real sizes are given per step; predictions and estimates are off by factors.

    Its pixels do not change along the ladder, so that what one step weighs bounds nothing about
    the next: estimates decide (see the test of the bound for that).
    """

    sizes: list[int]
    prediction_error: float = 1.0  # predicted = real x this
    estimate_error: float = 1.0  # estimated = real x this
    pixel_counts: list[int] | None = None
    encoded: list[Step] = field(default_factory=list)
    estimated_steps: list[Step] = field(default_factory=list)

    def _size(self, step: Step) -> int:
        return self.sizes[LADDER.index(step)]

    def predicted(self, step: Step) -> float:
        return self._size(step) * self.prediction_error

    def pixels(self, step: Step) -> int:
        return 1 if self.pixel_counts is None else self.pixel_counts[LADDER.index(step)]

    def downscaled(self, step: Step) -> bool:
        return True

    def estimated(self, step: Step, *, decode: bool) -> Estimate:
        self.estimated_steps.append(step)
        return Estimate(round(self._size(step) * self.estimate_error))

    def exact(self, step: Step) -> int:
        self.encoded.append(step)
        return self._size(step)


def falling(first: int, ratio: float = 0.8) -> list[int]:
    return [round(first * ratio**index) for index in range(len(LADDER))]


def first_fitting(views: list[View]) -> int:
    for index in range(len(LADDER)):
        if BUDGET.fits([view.sizes[index] for view in views]):
            return index
    raise AssertionError("nothing fits")


def test_a_right_prediction_costs_one_encoding_per_view() -> None:
    views = [View(falling(2_000_000)) for _ in range(3)]

    index = best_step(views, BUDGET)

    assert index == first_fitting(views)
    assert all(view.encoded == [LADDER[index]] for view in views)


@pytest.mark.parametrize("error", [0.3, 0.6, 0.9, 1.1, 1.6, 3.0])
def test_a_wrong_prediction_still_finds_the_first_step_that_fits(error: float) -> None:
    views = [View(falling(2_000_000), prediction_error=error) for _ in range(3)]

    index = best_step(views, BUDGET)

    assert index == first_fitting(views)
    assert all(len(view.encoded) <= 4 for view in views)


def sizes_around_the_budget(fitting: int, over_by: float) -> list[int]:
    """Sizes falling by a fifth per step, where step `fitting` is the first to fit three views
    and the one before is over the budget by `over_by` (a share)."""
    share = AVAILABLE * 3 // 4 // 3  # raw bytes per view that just fit
    sizes = [round(share * 0.99 * 1.25 ** (fitting - index)) for index in range(len(LADDER))]
    sizes[fitting - 1] = round(share * (1 + over_by))
    return sizes


@pytest.mark.parametrize("error", [0.97, 1.0, 1.03])
@pytest.mark.parametrize("over_by", [0.005, 0.03, 0.2])
def test_estimates_within_their_error_never_cost_a_better_step(
    error: float, over_by: float
) -> None:
    views = [View(sizes_around_the_budget(7, over_by), estimate_error=error) for _ in range(3)]

    index = best_step(views, BUDGET)

    assert index == 7 == first_fitting(views)


def test_only_a_step_too_close_to_the_budget_for_its_estimate_is_encoded() -> None:
    close = [View(sizes_around_the_budget(7, 0.01)) for _ in range(3)]
    clear = [View(sizes_around_the_budget(7, 0.2)) for _ in range(3)]

    assert best_step(close, BUDGET) == best_step(clear, BUDGET) == 7

    assert close[0].encoded == [LADDER[7], LADDER[6]]
    assert clear[0].encoded == [LADDER[7]]
    assert LADDER[6] in clear[0].estimated_steps


def test_the_next_step_bounds_the_one_before_when_pixels_grow_enough() -> None:
    # One and a half times the pixels: at least a fifth more bytes, over the budget here.
    pixel_counts = [round(1.5 ** (len(LADDER) - index)) for index in range(len(LADDER))]
    views = [View(sizes_around_the_budget(7, 0.2), pixel_counts=pixel_counts) for _ in range(3)]

    assert best_step(views, BUDGET) == 7

    assert views[0].encoded == [LADDER[7]]
    assert views[0].estimated_steps == []


def test_sizes_that_do_not_fall_along_the_ladder_still_give_a_step_that_fits() -> None:
    sizes = falling(2_000_000)
    sizes[8], sizes[9] = sizes[9], sizes[8]
    views = [View(list(sizes), prediction_error=0.5) for _ in range(3)]

    index = best_step(views, BUDGET)

    assert index is not None
    assert BUDGET.fits([view.sizes[index] for view in views])
    assert not BUDGET.fits([view.sizes[index - 1] for view in views])


def test_a_view_over_the_file_limit_does_not_fit_whatever_the_total() -> None:
    big = View([3_000_000] * 5 + [1_000_000] * (len(LADDER) - 5))
    small = View([10_000] * len(LADDER))

    index = best_step([big, small], Budget(available=10_000_000, max_file_bytes=2_000_000))

    assert index == 5


def test_nothing_fits_when_the_last_step_does_not() -> None:
    views = [View([AVAILABLE] * len(LADDER))] * 2

    assert best_step(views, BUDGET) is None


def test_base64_length_is_four_thirds_rounded_up() -> None:
    assert [base64_length(n) for n in (0, 1, 2, 3, 4, 300)] == [0, 4, 4, 4, 8, 400]
