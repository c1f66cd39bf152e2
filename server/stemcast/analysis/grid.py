"""The analysis grid: mono audio at RATE, STFT frames of N_FFT samples every HOP."""

RATE = 22050
N_FFT, HOP = 2048, 512
