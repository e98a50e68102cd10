"""Audio recordings (WAV, or AAC in .m4a as TaxaBench-8k ships them) as time-frequency tokens.

A recording is decoded to mono float32 at `sample_rate`, padded with zeros or cropped to
`duration` seconds (from the start; each change counted in the quality report when the reader
passes `report`), turned into a log-mel spectrogram (librosa, dB relative to
full scale) and cut into a grid of `time_blocks` x `freq_bands` patches. Token ``t{i}f{j}`` is time
block i, frequency band j (band 0 the lowest mels), its vector the patch flattened as
(mels in the band, frames in the block). Frames that do not fill a whole block are dropped, so
``D = (n_mels // freq_bands) * (n_frames // time_blocks)``. Selecting ``*f1`` keeps one band.

Decoding: WAV and other libsndfile formats through soundfile; .m4a/.mp4/.aac through PyAV, which
bundles ffmpeg's decoders (`librosa.load` alone cannot read AAC without an ffmpeg binary).
Truncated files are detected, not padded silently: a WAV whose data chunk is cut short, or an
m4a that decodes to clearly less than its container's declared duration, raises AudioDecodeError.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import librosa
import numpy as np
import soundfile

PYAV_SUFFIXES = (".m4a", ".mp4", ".aac")
# A decoded AAC stream may be a frame or so shorter than the container says; less than this
# share of the declared duration means the file was cut.
MIN_DECODED_SHARE = 0.9


class AudioDecodeError(ValueError):
    """The file exists but cannot be decoded into the samples its header promises."""


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 16000
    duration: float = 3.0  # seconds; recordings are padded or cropped to this
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 32
    time_blocks: int = 4
    freq_bands: int = 4

    @property
    def n_samples(self) -> int:
        return round(self.sample_rate * self.duration)

    @property
    def n_frames(self) -> int:
        # librosa's centred STFT
        return 1 + self.n_samples // self.hop_length

    @property
    def token_names(self) -> list[str]:
        return [f"t{i}f{j}" for i in range(self.time_blocks) for j in range(self.freq_bands)]

    @property
    def token_dim(self) -> int:
        return (self.n_mels // self.freq_bands) * (self.n_frames // self.time_blocks)

    def __post_init__(self):
        assert self.n_mels % self.freq_bands == 0, (
            f"n_mels {self.n_mels} is not a multiple of freq_bands {self.freq_bands}"
        )
        assert self.n_frames >= self.time_blocks, "fewer spectrogram frames than time blocks"


def _wav_truncation(path: Path) -> str:
    """Why a RIFF/WAVE file is shorter than its data chunk declares, or '' if it is not."""
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            return ""  # not a RIFF WAVE: soundfile judges it
        while header := f.read(8):
            if len(header) < 8:
                return "chunk header cut short"
            chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF are what streaming writers put when the size is unknown.
                if chunk_size in (0, 0xFFFFFFFF):
                    return ""
                available = file_size - f.tell()
                if available < chunk_size:
                    return f"data chunk declares {chunk_size} bytes, file holds {available}"
                return ""
            f.seek(chunk_size + chunk_size % 2, 1)  # chunks are word-aligned
    return "no data chunk"


def _decode_with_pyav(path: Path, sample_rate: int) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioDecodeError("no audio stream")
        file_rate = int(container.streams.audio[0].rate or sample_rate)
        declared_seconds = (container.duration or 0) / av.time_base
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = []
        for frame in container.decode(audio=0):
            chunks.extend(part.to_ndarray() for part in resampler.resample(frame))
        chunks.extend(part.to_ndarray() for part in resampler.resample(None))
    if not chunks:
        raise AudioDecodeError("no audio frames decoded")
    signal = np.concatenate(chunks, axis=1)[0]
    if signal.size < MIN_DECODED_SHARE * declared_seconds * sample_rate:
        raise AudioDecodeError(
            f"decoded {signal.size / sample_rate:.2f} s of a declared {declared_seconds:.2f} s"
        )
    return signal.astype(np.float32), file_rate


def _decode_with_soundfile(path: Path, sample_rate: int) -> tuple[np.ndarray, int]:
    truncation = _wav_truncation(path)
    if truncation:
        raise AudioDecodeError(f"truncated WAV: {truncation}")
    signal, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    if signal.shape[0] == 0:
        raise AudioDecodeError("no samples")
    mono = signal.mean(axis=1)
    if file_rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=file_rate, target_sr=sample_rate)
    return mono.astype(np.float32), int(file_rate)


# What decoding a bad file raises; callers catch these and record `corrupt_file`.
AUDIO_DECODE_ERRORS = (
    AudioDecodeError,
    soundfile.SoundFileError,
    av.error.FFmpegError,
    librosa.util.exceptions.ParameterError,  # e.g. non-finite samples in a float WAV
    OSError,
)


def decode_audio(path: str | Path, sample_rate: int) -> tuple[np.ndarray, int]:
    """(mono float32 signal at `sample_rate`, the file's own rate); raises one of
    AUDIO_DECODE_ERRORS if undecodable."""
    path = Path(path)
    if path.suffix.lower() in PYAV_SUFFIXES:
        return _decode_with_pyav(path, sample_rate)
    return _decode_with_soundfile(path, sample_rate)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 signal at `sample_rate` (`decode_audio` without the file's rate)."""
    return decode_audio(path, sample_rate)[0]


def fixed_length(signal: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop to the first `n_samples`, or pad with trailing zeros."""
    return np.pad(signal[:n_samples], (0, max(0, n_samples - signal.size)))


@functools.lru_cache(maxsize=8)
def _mel_filters(config: AudioConfig) -> np.ndarray:
    return librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels)


def log_mel(signal: np.ndarray, config: AudioConfig) -> np.ndarray:
    """(n_mels, n_frames) float32 log-mel power in dB (0 dB = a full-scale sine's power).

    Same values as `librosa.feature.melspectrogram` + `power_to_db(ref=1.0)`, with the filter
    bank built once per config rather than per recording.
    """
    spectrum = librosa.stft(
        fixed_length(signal, config.n_samples), n_fft=config.n_fft, hop_length=config.hop_length
    )
    power = _mel_filters(config) @ (np.abs(spectrum) ** 2)
    # A fixed reference keeps levels comparable across recordings (ref=np.max would not).
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)


def spectrogram_patch_tokens(spectrogram: np.ndarray, config: AudioConfig) -> np.ndarray:
    """(n_mels, n_frames) -> (time_blocks * freq_bands, token_dim), order t0f0, t0f1, ..."""
    mels_per_band = config.n_mels // config.freq_bands
    frames_per_block = spectrogram.shape[1] // config.time_blocks
    kept = spectrogram[:, : frames_per_block * config.time_blocks]
    # (bands, mels_per_band, blocks, frames_per_block) -> (blocks, bands, mels, frames)
    grid = kept.reshape(config.freq_bands, mels_per_band, config.time_blocks, frames_per_block)
    return grid.transpose(2, 0, 1, 3).reshape(config.time_blocks * config.freq_bands, -1)


def audio_tokens(path: str | Path, config: AudioConfig, report=None) -> np.ndarray:
    """Decode `path` and return its (T, D) time-frequency tokens.

    `report(reason, seconds, detail)` (`miam.inputs.quality.QualityLog.adjusted`) is told when
    the recording is resampled, cropped (seconds not seen) or padded (seconds of zeros added).
    """
    signal, file_rate = decode_audio(path, config.sample_rate)
    if report is not None:
        seconds = signal.size / config.sample_rate
        if file_rate != config.sample_rate:
            lost = (
                f"; above {config.sample_rate // 2} Hz lost"
                if file_rate > config.sample_rate
                else ""
            )
            report("resampled", seconds, f"{file_rate} Hz to {config.sample_rate} Hz{lost}")
        if signal.size > config.n_samples:
            report("cropped", seconds - config.duration, f"to the first {config.duration:g} s")
        elif signal.size < config.n_samples:
            report("padded", config.duration - seconds, f"with zeros to {config.duration:g} s")
    return spectrogram_patch_tokens(log_mel(signal, config), config)
