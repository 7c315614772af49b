"""Small tensor helpers shared by every layer."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


@torch.no_grad()
def batched(fn, x: torch.Tensor, *, batch_size: int = 500, device=None,
            y: torch.Tensor | None = None, progress: str | None = None) -> torch.Tensor:
    """Apply `fn` to float batches of `x` (uint8 read as x/255) and concatenate on the CPU.
    With labels `y`, ``fn(xb, yb)`` gets the matching slice of them. With ``progress`` (a
    description), a progress bar appears on a terminal once the work has taken 3 seconds."""
    device = device or torch.device("cpu")
    out = []
    starts = range(0, x.shape[0], batch_size)
    if progress is not None:
        starts = tqdm(starts, desc=progress, unit="batch", leave=False, delay=3, disable=None)
    for start in starts:
        xb = x[start:start + batch_size].to(device)
        xb = xb.float() / 255 if xb.dtype == torch.uint8 else xb.float()
        yb = () if y is None else (torch.as_tensor(y[start:start + batch_size]).to(device),)
        out.append(fn(xb, *yb).cpu())
    return torch.cat(out)


def rng(generator: torch.Generator | None) -> dict:
    """Keyword arguments for torch's random factories that draw from `generator`: none where it is
    None, so that the default generator is used. Passing ``generator=None`` explicitly selects
    the factories' generator overloads, which ``torch.compile`` cannot trace once it makes the
    batch size symbolic (the second batch size it sees)."""
    return {} if generator is None else {"generator": generator}
