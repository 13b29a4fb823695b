"""Types for the commands' option values: a bad value is a usage error (exit 2) that argparse
names with its option, before the command does anything."""

from __future__ import annotations

import argparse


def int_in(text: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f"..{high}"
        raise argparse.ArgumentTypeError(f"{value} is not in {low}{upper or ' or more'}")
    return value


def positive_int(text: str) -> int:
    return int_in(text, 1)


def non_negative_int(text: str) -> int:
    return int_in(text, 0)


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:  # NaN too
        raise argparse.ArgumentTypeError(f"{value:g} is not a number more than 0")
    return value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 1")
    return value
