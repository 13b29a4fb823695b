"""One reconstruction of an image set: prepare the views, call the endpoint, recover once.

Shared by the command line and the function, so both prepare and send images the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from face3d.client.http import Credentials, FaceppClient, ImageInput
from face3d.client.preparation import PreparationLimits, PreparedImage, SourceImage, prepare_images
from face3d.client.responses import Reconstruction
from face3d.errors import AUTHENTICATION_ERROR, Face3DError, RequestEntityTooLargeError

logger = logging.getLogger(__name__)

# Called with force=True once after an AUTHENTICATION_ERROR, in case the secret was rotated.
CredentialSource = Callable[[bool], Credentials]


@dataclass(frozen=True)
class Outcome:
    prepared: list[PreparedImage]
    reconstruction: Reconstruction


def reconstruct_set(
    client: FaceppClient,
    credentials: CredentialSource,
    sources: Sequence[SourceImage],
    *,
    texture: bool = True,
    mtl: bool = True,
    limits: PreparationLimits | None = None,
    time_budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Prepare `sources` and reconstruct them, within `time_budget` seconds if given.

    A 413 means our request budget was wrong: prepare again within a quarter less than the
    request that was refused, and retry once; a second 413 is final (DESIGN.md section 6). An
    `AUTHENTICATION_ERROR` gets one retry with freshly fetched credentials.
    """
    limits = limits or PreparationLimits()
    started = clock()

    def remaining() -> float | None:
        return None if time_budget is None else max(0.0, time_budget - (clock() - started))

    prepared = prepare_images(sources, limits)
    current = credentials(False)
    shrunk = refreshed = False
    while True:
        try:
            reconstruction = client.reconstruct(
                current,
                [ImageInput(image.view, data=image.jpeg) for image in prepared],
                texture=texture,
                mtl=mtl,
                time_budget=remaining(),
                request_budget=limits.request_budget,
            )
            return Outcome(prepared, reconstruction)
        except RequestEntityTooLargeError as err:
            # A quarter less than what was refused: a budget a quarter below the configured one
            # can still hold a small request unchanged, which would be refused again.
            refused = err.request_bytes or limits.request_budget
            budget = min(limits.request_budget, refused) * 3 // 4
            if shrunk or budget <= limits.reserved_bytes:
                raise
            shrunk = True
            limits = replace(limits, request_budget=budget)
            logger.warning(
                "request entity of %d bytes too large; preparing again within %d bytes",
                refused,
                budget,
            )
            prepared = prepare_images(sources, limits)
        except Face3DError as err:
            if err.code != AUTHENTICATION_ERROR or refreshed:
                raise
            refreshed = True
            fresh = credentials(True)
            if fresh == current:
                raise
            logger.warning("authentication failed; retrying once with refreshed credentials")
            current = fresh
