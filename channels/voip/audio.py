"""The sounds the switch plays: spoken prompts (text read by espeak-ng, Debian's speech
synthesiser, cached by content), the default waiting music, tones, and the checks an
uploaded recording must pass (the switch plays 16-bit PCM WAV files).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import struct
import wave
from pathlib import Path

from plateaux.platform.errors import UnprocessableContent

VOICES = {"fr": "fr", "en": "en-gb", "de": "de", "es": "es", "it": "it", "nl": "nl"}
MAX_PROMPT_BYTES = 5 * 1024 * 1024
MAX_TEXT = 1000


class SpeechError(RuntimeError):
    pass


class Sounds:
    """Files under ``root``: made once, reused by every call."""

    def __init__(self, root: Path, *, tts_command: str = "espeak-ng") -> None:
        self.root = root
        self.tts_command = tts_command
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}

    async def speech(self, text: str, language: str) -> Path:
        """``text`` spoken in ``language`` as a WAV file."""
        text = " ".join(text.split())[:MAX_TEXT]
        voice = VOICES.get(language, "en-gb")
        digest = hashlib.sha256(f"{voice}\0{text}".encode()).hexdigest()[:32]
        path = self.root / "tts" / f"{digest}.wav"
        if path.exists():
            return path
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if path.exists():
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            # The text goes on standard input: never on a command line, whatever it holds.
            process = await asyncio.create_subprocess_exec(
                self.tts_command, "-v", voice, "-s", "150", "-w", str(partial), "--stdin",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            _, error = await process.communicate(text.encode())
            if process.returncode != 0 or not partial.exists():
                raise SpeechError(f"speech synthesis failed: {error.decode(errors='replace')}")
            partial.replace(path)
        return path

    def music(self) -> Path:
        """The default waiting music: a slow, quiet arpeggio, made here (no file to ship)."""
        path = self.root / "music-default.wav"
        if not path.exists():
            _write(path, _arpeggio())
        return path

    def tone(self, name: str) -> Path:
        """``beep`` (before a voicemail), ``ringback`` (while a number rings)."""
        path = self.root / f"{name}.wav"
        if not path.exists():
            frames = (_sine(1000, 0.4, 0.5) if name == "beep"
                      else _sine(440, 1.0, 0.2, second=480) + _silence(3.0))
            _write(path, frames)
        return path

    def cached(self, key: str, data: bytes) -> Path:
        """A stored recording (an uploaded prompt, hold music) as a local file."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        path = self.root / "files" / f"{digest}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)
        return path


RATE = 16000


def _sine(freq: float, seconds: float, level: float, *, second: float | None = None) -> bytes:
    count = int(RATE * seconds)
    samples = []
    for i in range(count):
        value = math.sin(2 * math.pi * freq * i / RATE)
        if second is not None:
            value = (value + math.sin(2 * math.pi * second * i / RATE)) / 2
        fade = min(1.0, i / 400, (count - i) / 400)
        samples.append(int(32767 * level * fade * value))
    return struct.pack(f"<{count}h", *samples)


def _silence(seconds: float) -> bytes:
    return b"\0\0" * int(RATE * seconds)


def _arpeggio() -> bytes:
    notes = [261.63, 329.63, 392.00, 523.25, 392.00, 329.63, 293.66, 349.23, 440.00,
             587.33, 440.00, 349.23]
    return b"".join(_sine(n, 0.45, 0.12) for n in notes)


def _write(path: Path, frames: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)
    partial.replace(path)


def check_recording(data: bytes, *, field: str = "file") -> float:
    """An uploaded prompt or music: a mono or stereo 16-bit PCM WAV; its length in
    seconds."""
    if len(data) > MAX_PROMPT_BYTES:
        raise UnprocessableContent(f"A recording is at most {MAX_PROMPT_BYTES // 1048576} MB.",
                                   extra={"field": field})
    if not (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
        raise UnprocessableContent("Upload a WAV file (16-bit PCM).", extra={"field": field})
    try:
        with wave.open(io.BytesIO(data)) as audio:
            if audio.getsampwidth() != 2 or audio.getnchannels() not in (1, 2) or \
                    not 8000 <= audio.getframerate() <= 48000:
                raise UnprocessableContent(
                    "The WAV file must be 16-bit PCM, mono or stereo, 8 to 48 kHz.",
                    extra={"field": field})
            frames = audio.getnframes()
            if frames == 0:
                raise UnprocessableContent("The recording is empty.", extra={"field": field})
            return frames / audio.getframerate()
    except (wave.Error, EOFError) as error:
        raise UnprocessableContent("Upload a WAV file (16-bit PCM).",
                                   extra={"field": field}) from error
