"""Voice embeddings: resemblyzer's speaker encoder, exported to ONNX
(devtools/export_voice_encoder.py), fed the features resemblyzer feeds it.

The features are librosa.feature.melspectrogram's with resemblyzer's hparams (16 kHz,
25 ms Hann window, 10 ms hop, 40 Slaney mels, power 2, centred frames), in numpy:
librosa is not a dependency (faster-whisper carries a copy of its filterbank and
STFT, which the tests compare with). An utterance is cut into 1.6 s partials
at 1.3 a second, each embedded, and the mean L2-normalised, as embed_utterance does.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
PARTIAL_RATE = 1.3  # partials a second
MIN_COVERAGE = 0.75  # a last partial is kept from this share of its frames on
TARGET_DBFS = -30.0  # resemblyzer's audio_norm_target_dBFS, volume raised only
EMBEDDING_SIZE = 256


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa, htk=False): linear to 1 kHz, logarithmic above."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mel = hz / f_sp
    return np.where(hz >= min_log_hz,
                    min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)),
                    f_sp * mel)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): triangles on the Slaney
    scale, each scaled to unit area (norm="slaney"). [40, 201]"""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(
        np.array(SAMPLE_RATE / 2)), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def hann_window() -> np.ndarray:
    """scipy.signal.get_window("hann", 400): the periodic Hann window librosa uses."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """[frames, 40] mel power spectrogram (not log), 1 + len(wav) // 160 frames."""
    # Centred frames, the ends padded by reflection: librosa's default until 0.10, with
    # which the encoder was trained (0.10 pads with zeros; only two frames differ).
    mode = "reflect" if len(wav) > N_FFT // 2 else "constant"
    padded = np.pad(wav.astype(np.float32), N_FFT // 2, mode=mode)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * hann_window(), axis=1)) ** 2
    return (power @ mel_filterbank().T).astype(np.float32)


def normalize_volume(wav: np.ndarray) -> np.ndarray:
    """Raised to -30 dBFS RMS if quieter (resemblyzer's preprocess_wav)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    if rms <= 0.0:
        return wav
    change = TARGET_DBFS - 20 * np.log10(rms)
    return wav if change < 0 else wav * np.float32(10 ** (change / 20))


def partial_slices(n_samples: int) -> list[slice]:
    """The 1.6 s partials' frame ranges (VoiceEncoder.compute_partial_slices, rate 1.3)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round(SAMPLE_RATE / PARTIAL_RATE / HOP))
    slices = [slice(i, i + PARTIAL_FRAMES)
              for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)]
    coverage = (n_samples - slices[-1].start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices.pop()
    return slices


class VoiceEncoder:
    """Voice embeddings (256 floats, L2-normalised) through ONNX Runtime."""

    def __init__(self, model_path: Path, device: str = "cpu", batch_size: int = 64) -> None:
        providers = ["CPUExecutionProvider"]
        if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self._session = ort.InferenceSession(str(model_path), providers=providers)
        self._batch = max(1, batch_size)

    def embed_mels(self, mels: list[np.ndarray]) -> np.ndarray:
        """[frames, 40] spectrograms -> [n, 256]; those of one length run in batches."""
        found = np.zeros((len(mels), EMBEDDING_SIZE), np.float32)
        by_length: dict[int, list[int]] = {}
        for index, mel in enumerate(mels):
            by_length.setdefault(len(mel), []).append(index)
        for members in by_length.values():
            for i in range(0, len(members), self._batch):
                batch = members[i:i + self._batch]
                found[batch] = self._session.run(
                    None, {"mels": np.stack([mels[k] for k in batch])})[0]
        return found

    def embed_utterances(self, wavs: list[np.ndarray]) -> np.ndarray:
        """One embedding per 16 kHz utterance: its partials' mean, L2-normalised.

        One departure from resemblyzer: an utterance shorter than a partial is embedded
        as it is, not padded with silence to 1.6 s; the LSTM's last state after a second
        of zeros forgets much of the voice (a 0.6 s word lay 0.1-0.15 further from its
        speaker padded than not, on espeak-ng voices)."""
        mels, owner = [], []
        for index, wav in enumerate(wavs):
            wav = normalize_volume(wav)
            if len(wav) < PARTIAL_FRAMES * HOP:
                mels.append(mel_spectrogram(wav))
                owner.append(index)
                continue
            slices = partial_slices(len(wav))
            need = slices[-1].stop * HOP
            mel = mel_spectrogram(np.pad(wav, (0, max(0, need - len(wav)))))
            mels += [mel[s] for s in slices]
            owner += [index] * len(slices)
        found = np.zeros((len(wavs), EMBEDDING_SIZE), np.float32)
        if mels:
            np.add.at(found, np.array(owner, dtype=np.int64), self.embed_mels(mels))
        norms = np.linalg.norm(found, axis=1, keepdims=True)
        return found / np.where(norms > 0, norms, 1.0)


def enrolment(name: str, embedding: np.ndarray) -> str:
    """An enrolled voice as the registry stores it (task "voice-enrolment")."""
    return json.dumps({"name": name, "embedding": [round(float(x), 6) for x in embedding]})


def read_enrolment(path: Path) -> tuple[str, np.ndarray]:
    data = json.loads(Path(path).read_text())
    vector = np.asarray(data["embedding"], dtype=np.float32)
    if not isinstance(data.get("name"), str) or vector.shape != (EMBEDDING_SIZE,):
        raise ValueError(f"{path} is no enrolled voice: it needs a name and 256 floats")
    return data["name"], vector / (np.linalg.norm(vector) or 1.0)
