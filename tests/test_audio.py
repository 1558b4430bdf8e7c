"""misgan.data.audio: decoding, downmix, soxr resampling against scipy, and one clear error per defect."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from corpus_fixtures import garbage, tone, truncated, zero_length
from scipy.signal import resample_poly

from misgan.data.audio import (
    AudioError,
    ChannelsAudioError,
    EmptyAudioError,
    MissingAudioError,
    SampleRateAudioError,
    TooShortAudioError,
    UnreadableAudioError,
    header_duration,
    probe,
    read_audio,
    validate,
)
from misgan.errors import MisganError


def test_probe_reads_header(tmp_path):
    path = tone(tmp_path / "a.wav", sr=48000, seconds=0.5)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.frames) == (48000, 1, 24000)
    assert info.duration == pytest.approx(0.5)
    assert header_duration(path) == pytest.approx(0.5)


def test_read_resamples_with_soxr_close_to_scipy(tmp_path):
    sr_in, sr_out = 48000, 16000
    t = np.arange(sr_in) / sr_in
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "x.wav", x, sr_in, subtype="FLOAT")
    y = read_audio(tmp_path / "x.wav", sr_out)
    ref = resample_poly(x.astype(np.float64), 1, 3)
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == 16000
    # compare away from the edges, where the two filters' transients differ
    assert np.max(np.abs(y[200:-200] - ref[200:-200])) < 1e-2
    assert read_audio(tmp_path / "x.wav", None).shape == (48000,)


def test_downmix_is_channel_mean(tmp_path):
    left = np.full(1600, 0.5, dtype=np.float32)
    right = np.full(1600, -0.25, dtype=np.float32)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    y = read_audio(tmp_path / "st.wav", 16000)
    assert y == pytest.approx(np.full(1600, 0.125), abs=1e-6)
    with pytest.raises(ChannelsAudioError, match=r"st\.wav"):
        read_audio(tmp_path / "st.wav", 16000, max_channels=1)


@pytest.mark.parametrize(
    "make,error",
    [
        (garbage, UnreadableAudioError),
        (zero_length, EmptyAudioError),
        (truncated, UnreadableAudioError),
    ],
)
def test_broken_files_raise_named_errors(tmp_path, make, error):
    path = make(tmp_path / "bad.wav")
    for fn in (probe, read_audio):
        with pytest.raises(error) as info:
            fn(path)
        assert str(info.value).startswith(str(path))
        assert isinstance(info.value, MisganError)
    assert math.isnan(header_duration(path))


def test_missing_no_samples_and_too_short(tmp_path):
    with pytest.raises(MissingAudioError, match=r"nope\.wav"):
        probe(tmp_path / "nope.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(EmptyAudioError, match="no audio samples"):
        read_audio(tmp_path / "empty.wav")
    short = tone(tmp_path / "short.wav", seconds=0.05)
    with pytest.raises(TooShortAudioError, match=r"short\.wav"):
        read_audio(short, min_duration=0.1)
    assert len(read_audio(short, min_duration=0.01)) == 800


def test_validate(tmp_path):
    info = probe(tone(tmp_path / "a.wav", sr=16000, seconds=0.3))
    assert validate(info, min_duration=0.2, sample_rate=16000, channels=1) is info
    with pytest.raises(SampleRateAudioError):
        validate(info, sample_rate=48000)
    with pytest.raises(ChannelsAudioError):
        validate(info, channels=2)
    with pytest.raises(TooShortAudioError):
        validate(info, min_duration=1.0)
    assert issubclass(TooShortAudioError, AudioError)


def test_nonfinite_samples_rejected(tmp_path):
    x = np.zeros(1600, dtype=np.float32)
    x[10] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(UnreadableAudioError, match="NaN"):
        read_audio(tmp_path / "nan.wav")
