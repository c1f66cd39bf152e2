"""Flags several commands share: the data folder, the model, the cache limits."""

from __future__ import annotations

from pathlib import Path

from stemcast.cli.flags import Flag
from stemcast.config import DEFAULT_MODEL, default_data_dir

DATA_DIR = (
    Flag("--data-dir", "DATA_DIR", Path, default_data_dir(),
         f"jobs, uploads and the database; default {default_data_dir()}"),
)

MODEL_HELP = ("auto (default: htdemucs when its weights are on disk, else the offline engine "
              "at once, htdemucs downloading in the background), offline (4 stems, no "
              "download: Spleeter vocals + DSP), spleeter-2stems, dsp, or a Demucs model: "
              "htdemucs, htdemucs_ft, htdemucs_6s, mdx_extra, ... A model named here never "
              "falls back to another")
REPO_HELP = ("local folder of weights in demucs's layout (SIG-CHECKSUM.th files and "
             "NAME.yaml); without it the HuggingFace cache is used")

# What runs the separation. `stemcast separate` spells some of them as demucs does
# (-n/--name, --repo, -d); see separate.py.
MODEL = (
    Flag("--model", "MODEL", str, DEFAULT_MODEL, MODEL_HELP),
    Flag("--model-repo", "MODEL_REPO", Path, None, REPO_HELP),
)
DEVICE = (
    Flag("--device", "DEVICE", str, "auto", "auto (CUDA when present), cpu, cuda or cuda:N"),
)
ENGINE = (
    Flag("--model-fetch-timeout", "MODEL_FETCH_TIMEOUT", float, 20.0,
         "seconds to try downloading missing weights; 0 = never (HF_HUB_OFFLINE=1 also "
         "turns downloads off)"),
    Flag("--precision", "PRECISION", str, "auto",
         "what the model runs in; auto = bf16 where the hardware runs it natively (CUDA, "
         "CPUs with AVX512-BF16 or AMX), else fp32", choices=("auto", "fp32", "bf16", "fp16")),
    Flag("--shifts", "SHIFTS", int, 0,
         "average over N random time shifts as demucs does (N times slower, slightly "
         "better); 0 = off"),
)

CACHE_LIMITS = (
    Flag("--retention-hours", "RETENTION_HOURS", float, None,
         "remove stems not used for this many hours (default: keep)"),
    Flag("--cache-max-gb", "CACHE_MAX_GB", float, None,
         "keep the stem cache under this size, least recently used first (default: no "
         "limit)"),
    Flag("--min-keep-minutes", "MIN_KEEP_MINUTES", float, 10.0,
         "never remove stems served or announced this recently"),
)
