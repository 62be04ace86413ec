"""Synthetic test signals shared by the processing tests."""

import numpy as np


def tone(seconds, freq=440.0, sampling_rate=16000, amplitude=0.3):
    """A float32 sine of `freq` Hz lasting `seconds` at `sampling_rate`."""
    t = np.arange(int(round(seconds * sampling_rate))) / sampling_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
