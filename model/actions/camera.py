"""VPT's mu-law camera quantiser with JARVIS-VLA's parameters (spec §2).

The arithmetic mirrors the upstream numpy expressions operation for operation, because the bin
edges are where a reimplementation drifts: same clip, same division order, same round-half-even.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraQuantizer:
    maxval: int = 10
    binsize: int = 1
    mu: float = 20
    mu_law: bool = True

    @property
    def n_bins(self) -> int:
        return 2 * self.maxval // self.binsize + 1

    @property
    def null_bin(self) -> int:
        return self.maxval // self.binsize

    def discretize(self, degrees: np.ndarray | list[float]) -> np.ndarray:
        """Degrees (any shape) to int64 bin indices.

        A float32 array is quantised in float32, as upstream numpy does with MineRL's float32
        camera arrays (a few edge values land in a different bin than in float64); everything
        else is computed in float64.
        """
        xy = np.asarray(degrees)
        if xy.dtype != np.float32:
            xy = xy.astype(np.float64)
        xy = np.clip(xy, -self.maxval, self.maxval)
        if self.mu_law:
            xy = xy / self.maxval
            v_encode = np.sign(xy) * (np.log(1.0 + self.mu * np.abs(xy)) / np.log(1.0 + self.mu))
            v_encode *= self.maxval
            xy = v_encode
        bins: np.ndarray = np.round((xy + self.maxval) / self.binsize).astype(np.int64)
        return bins

    def undiscretize(self, bins: np.ndarray | list[int]) -> np.ndarray:
        """Bin indices to degrees (float64), the value the official decoder hands the environment."""
        xy: np.ndarray = np.asarray(bins, dtype=np.int64) * self.binsize - self.maxval
        if self.mu_law:
            xy = xy / self.maxval
            v_decode = np.sign(xy) * (1.0 / self.mu) * ((1.0 + self.mu) ** np.abs(xy) - 1.0)
            v_decode *= self.maxval
            xy = v_decode
        return np.asarray(xy, dtype=np.float64)


JARVIS_CAMERA = CameraQuantizer()
