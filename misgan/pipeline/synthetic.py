"""A small synthetic emotional-speech corpus, generated on the fly for `misgan demo`, the tests and benches.

Each utterance is a voiced source (harmonics on an F0 contour, with jitter, shimmer and breath noise)
shaped by per-syllable formant filters and syllable-like amplitude envelopes. Speakers differ in base
pitch, vocal-tract length (formant scale), spectral tilt and loudness; emotions differ in prosody the
way acted corpora do (angry: high pitch, loud, fast, harsh; sad: low, soft, slow, breathy; happy: high
with wide pitch movement; neutral: flat). Transcripts lean on the emotion but overlap across classes,
so text alone is informative yet imperfect.

The corpus is written in the `csv` layout: `<root>/manifest.csv` (utt_id, path, text, label, speaker,
gender, duration) with wav files under `<root>/wav/<speaker>/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from misgan.data.manifest import CLASSES_4, Manifest, new_manifest, write_manifest

SAMPLE_RATE = 16000
_NYQUIST_GUARD = 7000.0  # highest harmonic kept (Hz): below Nyquist with room for jitter


@dataclass(frozen=True)
class Prosody:
    """Emotion-specific speaking style; per-utterance noise is added on top."""

    f0_scale: float  # multiplies the speaker's base F0
    f0_range_st: float  # spread of pitch accents, semitones
    gain_db: float  # loudness relative to neutral
    rate: float  # syllables per second
    tilt: float  # harmonic amplitude ~ k^-tilt: lower = harsher, brighter spectrum
    breath: float  # aspiration noise relative to the voiced source
    jitter: float  # relative cycle-to-cycle F0 perturbation
    shimmer: float  # relative amplitude perturbation


PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(1.00, 0.8, 0.0, 4.0, 1.6, 0.03, 0.004, 0.03),
    "happy": Prosody(1.30, 5.0, 3.0, 4.6, 1.3, 0.03, 0.008, 0.05),
    "sad": Prosody(0.85, 0.7, -7.0, 2.8, 2.2, 0.08, 0.006, 0.04),
    "angry": Prosody(1.22, 2.0, 7.0, 5.6, 0.8, 0.05, 0.015, 0.08),
}

# adult-male vowel formants (Hz): F1, F2, F3; a speaker's formant scale shifts them all
_VOWELS = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]])
_BANDWIDTHS = (80.0, 100.0, 150.0)

_CUES = {
    "angry": ("furious", "unacceptable", "ridiculous", "outrageous", "infuriating", "annoying"),
    "happy": ("wonderful", "great", "amazing", "fantastic", "lovely", "delightful"),
    "sad": ("lonely", "hopeless", "miserable", "heartbreaking", "gloomy", "sorry"),
    "neutral": ("fine", "okay", "normal", "scheduled", "usual", "standard"),
}
# words every class uses: they carry no emotion, which keeps text-only recognition imperfect
_SHARED = ("different", "late", "long", "over", "back", "here")
_SUBJECTS = ("the meeting", "my brother", "this weekend", "the train", "our project", "the new office", "dinner")
_TEMPLATES = (
    "{subject} was {word}",
    "I think {subject} is {word}",
    "honestly {subject} feels {word} today",
    "well {subject} was {word} again",
    "you know {subject} is {word}",
)


@dataclass(frozen=True)
class Speaker:
    name: str
    gender: str
    f0: float  # base pitch, Hz
    formant_scale: float  # shorter vocal tract -> higher formants
    tilt_offset: float
    gain_db: float


def make_speakers(n: int, seed: int = 0) -> list[Speaker]:
    """`n` speakers alternating F/M, each with its own pitch, timbre and loudness."""
    rng = np.random.default_rng([seed, 7919])
    out = []
    for i in range(n):
        female = i % 2 == 0
        out.append(
            Speaker(
                name=f"spk{i + 1:02d}",
                gender="F" if female else "M",
                f0=float(rng.uniform(175, 230) if female else rng.uniform(95, 135)),
                formant_scale=float(rng.uniform(1.08, 1.2) if female else rng.uniform(0.9, 1.02)),
                tilt_offset=float(rng.uniform(-0.2, 0.2)),
                gain_db=float(rng.uniform(-2.0, 2.0)),
            )
        )
    return out


def transcript(label: str, rng: np.random.Generator, p_cue: float = 0.55, p_confuse: float = 0.15) -> str:
    """A sentence whose key word is the class's cue (p_cue), another class's cue (p_confuse), or shared."""
    u = rng.random()
    if u < p_cue:
        word = rng.choice(_CUES[label])
    elif u < p_cue + p_confuse:
        other = rng.choice([c for c in _CUES if c != label])
        word = rng.choice(_CUES[other])
    else:
        word = rng.choice(_SHARED)
    template = rng.choice(_TEMPLATES)
    return str(template.format(subject=rng.choice(_SUBJECTS), word=word))


def _syllables(text: str) -> int:
    return int(np.clip(len(re.findall(r"[aeiouy]+", text.lower())), 4, 12))


def _smooth_noise(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Zero-mean, unit-std noise varying on a time scale of about `width` samples."""
    raw = rng.standard_normal(n + width)
    kernel = np.hanning(max(width, 3))
    out = np.convolve(raw, kernel / kernel.sum(), mode="same")[:n]
    return out / (out.std() + 1e-12)


def _resonator(freq: float, bw: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Second-order resonance at `freq` with bandwidth `bw`, unit gain at DC."""
    r = np.exp(-np.pi * bw / sr)
    a = np.array([1.0, -2 * r * np.cos(2 * np.pi * freq / sr), r * r])
    return np.array([a.sum()]), a


def _blend(a: Prosody, b: Prosody, w: float) -> Prosody:
    """Prosody a + w * (b - a), field by field."""
    return Prosody(**{k: (1 - w) * getattr(a, k) + w * getattr(b, k) for k in a.__dataclass_fields__})


def synthesize(
    speaker: Speaker,
    label: str,
    n_syllables: int,
    rng: np.random.Generator,
    sr: int = SAMPLE_RATE,
    intensity: tuple[float, float] = (0.05, 0.9),
) -> np.ndarray:
    """One utterance (float32 mono at `sr`) of `speaker` speaking `n_syllables` with emotion `label`."""
    from scipy.signal import lfilter

    # emotional intensity varies per utterance (weak ones sound almost neutral), as in acted corpora;
    # with the per-utterance noise below this makes classes overlap, so recognition is not trivial
    p = _blend(PROSODY["neutral"], PROSODY[label], float(rng.uniform(intensity[0], intensity[1])))
    rate = p.rate * float(np.exp(rng.normal(0, 0.12)))
    f0_base = speaker.f0 * p.f0_scale * float(np.exp(rng.normal(0, 0.08)))
    gain_db = p.gain_db + speaker.gain_db + rng.normal(0, 2.5)
    tilt = max(0.4, p.tilt + speaker.tilt_offset + rng.normal(0, 0.2))

    # syllable timeline: voiced nucleus then a short closure gap
    durs = rng.uniform(0.8, 1.2, n_syllables) / rate
    lead = int(0.1 * sr)
    bounds = lead + np.concatenate([[0], np.cumsum((durs * sr).astype(int))])
    n = int(bounds[-1] + lead)
    envelope = np.zeros(n)
    vowel_of = np.full(n, -1)
    for i in range(n_syllables):
        start, stop = int(bounds[i]), int(bounds[i + 1])
        voiced = int((stop - start) * rng.uniform(0.65, 0.85))
        envelope[start : start + voiced] = np.sin(np.pi * np.linspace(0, 1, voiced)) ** 0.7
        vowel_of[start:stop] = rng.integers(len(_VOWELS))

    # F0: declination + one pitch accent per syllable (interpolated) + jitter
    t = np.arange(n)
    accents = rng.normal(0, p.f0_range_st / 2, n_syllables + 1)
    centres = np.concatenate([[0], (bounds[:-1] + bounds[1:]) / 2, [n - 1]])
    contour_st = np.interp(t, centres, np.concatenate([[accents[0]], accents]))
    contour_st += np.linspace(0.5, -1.5, n)
    f0 = f0_base * 2 ** (contour_st / 12) * (1 + p.jitter * _smooth_noise(rng, n, sr // 400))
    phase = 2 * np.pi * np.cumsum(f0) / sr

    source = np.zeros(n)
    for k in range(1, int(_NYQUIST_GUARD // f0.min()) + 1):
        source += (k**-tilt) * (k * f0 < _NYQUIST_GUARD) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    source *= 1 + p.shimmer * _smooth_noise(rng, n, sr // 200)
    source /= source.std() + 1e-12
    source += p.breath * 4 * rng.standard_normal(n)

    voice = np.zeros(n)
    for v, formants in enumerate(_VOWELS):
        mask = vowel_of == v
        if not mask.any():
            continue
        y = source
        for freq, bw in zip(formants * speaker.formant_scale, _BANDWIDTHS, strict=True):
            b, a = _resonator(float(freq), bw, sr)
            y = lfilter(b, a, y)
        voice[mask] = y[mask]
    voice *= envelope

    # loudness is set explicitly (not normalised away): energy is one of the emotion cues
    voiced_rms = np.sqrt(np.mean(voice[envelope > 0.1] ** 2)) + 1e-12
    out = voice / voiced_rms * 0.05 * 10 ** (gain_db / 20)
    out += rng.normal(0, 3e-4, n)  # room noise floor
    return np.clip(out, -0.99, 0.99).astype(np.float32)


def generate_corpus(
    root: str | Path,
    *,
    n_speakers: int = 8,
    per_class: int = 10,
    seed: int = 0,
    classes: tuple[str, ...] = CLASSES_4,
    sr: int = SAMPLE_RATE,
) -> Manifest:
    """Write `n_speakers * per_class * len(classes)` wav files and `root/manifest.csv`; return the manifest.

    Deterministic in `seed`. Files already present with the same name are rewritten.
    """
    import io

    import soundfile as sf

    from misgan.io import atomic_write

    root = Path(root)
    rows = []
    for s_idx, spk in enumerate(make_speakers(n_speakers, seed)):
        folder = root / "wav" / spk.name
        folder.mkdir(parents=True, exist_ok=True)
        for c_idx, label in enumerate(classes):
            for j in range(per_class):
                rng = np.random.default_rng([seed, s_idx, c_idx, j])
                text = transcript(label, rng)
                audio = synthesize(spk, label, _syllables(text), rng, sr)
                utt = f"{spk.name}_{label}_{j:03d}"
                path = folder / f"{utt}.wav"
                buf = io.BytesIO()
                sf.write(buf, audio, sr, format="WAV", subtype="PCM_16")
                atomic_write(path, buf.getvalue())
                rows.append(
                    {
                        "utt_id": utt,
                        "path": str(path.relative_to(root)),
                        "text": text,
                        "label": label,
                        "speaker": spk.name,
                        "gender": spk.gender,
                        "duration": len(audio) / sr,
                    }
                )
    manifest = new_manifest(rows)
    write_manifest(manifest, root / "manifest.csv")
    return manifest
