"""Reference log-mel filter banks from torchaudio on a real signal (speech from espeak-ng),
written once to tests/fixtures/fbank.npz.

    apt-get install espeak-ng && pip install numpy torch torchaudio
    python3 tests/reference/make_fbank_fixture.py
"""

import os
import subprocess
import tempfile

import numpy as np
import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "fbank.npz")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "speech.wav")
        subprocess.run(
            ["espeak-ng", "-w", wav, "Attention bottlenecks for multimodal fusion, listen and look."],
            check=True,
        )
        import wave

        with wave.open(wav) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
    waveform = torchaudio.functional.resample(torch.from_numpy(pcm)[None], rate, 16000)
    waveform = waveform[:, : 16000 * 2]  # two seconds
    out = {"waveform": waveform[0].numpy().astype(np.float32)}
    for window in ["hanning", "hamming", "povey"]:
        fbank = torchaudio.compliance.kaldi.fbank(
            waveform,
            htk_compat=True,
            use_energy=False,
            window_type=window,
            dither=0.0,
            num_mel_bins=128,
            frame_shift=10,
        )
        out[f"fbank_{window}"] = fbank.numpy().astype(np.float32)
        print(window, fbank.shape, float(fbank.min()), float(fbank.max()))
    np.savez(OUT, **out)


if __name__ == "__main__":
    main()
