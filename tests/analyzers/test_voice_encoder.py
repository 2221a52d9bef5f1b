"""The committed voice encoder is resemblyzer's network: the export script makes the same
bytes again, and ONNX Runtime agrees with a numpy forward of the checkpoint's weights."""

from __future__ import annotations

import hashlib
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from agents.analyzers.voice import (
    HOP,
    N_MELS,
    SAMPLE_RATE,
    VoiceEncoder,
    hann_window,
    mel_filterbank,
    mel_spectrogram,
    partial_slices,
)
from agents.model_cache import packaged_model
from aima_tasks.kernel.analyses.diarization import VOICE_ENCODER
from devtools.export_voice_encoder import build_graph, load_legacy, numpy_forward


@pytest.fixture(scope="module")
def weights_path() -> Path:
    """resemblyzer's weights, installed for the tests (requirements/dev-weights.txt)."""
    spec = find_spec("resemblyzer")
    assert spec is not None, "resemblyzer is not installed: python3 bootstrap.py test"
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


@pytest.fixture(scope="module")
def weights(weights_path: Path) -> dict[str, np.ndarray]:
    return load_legacy(weights_path)


def test_the_export_makes_the_committed_file_again(weights):
    made = build_graph(weights).SerializeToString()
    assert hashlib.sha256(made).hexdigest() == VOICE_ENCODER.sha256


def test_onnx_runtime_agrees_with_the_numpy_forward(weights):
    encoder = VoiceEncoder(packaged_model(VOICE_ENCODER).path)
    rng = np.random.default_rng(7)
    mels = rng.random((2, 160, N_MELS), dtype=np.float32) * 3
    got = encoder.embed_mels(list(mels))
    assert np.abs(got - numpy_forward(weights, mels)).max() < 1e-5
    assert np.linalg.norm(got, axis=1) == pytest.approx(1.0, abs=1e-5)


def test_the_features_are_librosa_s():
    # faster-whisper carries librosa's Slaney filterbank and a reflect-padded STFT.
    assert np.abs(mel_filterbank() - FeatureExtractor.get_mel_filters(
        SAMPLE_RATE, 400, N_MELS)).max() < 1e-8
    noise = np.random.default_rng(1).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    spectrum = FeatureExtractor.stft(noise, 400, HOP, window=hann_window(), return_complex=True)
    theirs = (mel_filterbank() @ np.abs(spectrum) ** 2).T
    assert np.abs(mel_spectrogram(noise) - theirs).max() <= 1e-5 * np.abs(theirs).max()


def test_a_tone_lights_the_mel_band_around_its_frequency():
    bank = mel_filterbank()
    assert bank.shape == (N_MELS, 201)
    bin_hz = SAMPLE_RATE / 400
    centres = np.argmax(bank, axis=1) * bin_hz
    assert np.all(np.diff(centres) >= 0) and centres[-1] > 6500
    tone = np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    mel = mel_spectrogram(tone)
    assert mel.shape == (1 + SAMPLE_RATE // HOP, N_MELS)
    assert abs(centres[int(np.argmax(mel[50]))] - 1000) < 120


def test_partials_cover_an_utterance_as_resemblyzer_cuts_it():
    # 1 s: one padded partial; 3 s: partials every 77 frames, the last kept if 75 % full.
    assert partial_slices(SAMPLE_RATE) == [slice(0, 160)]
    assert partial_slices(3 * SAMPLE_RATE) == [slice(0, 160), slice(77, 237), slice(154, 314)]
