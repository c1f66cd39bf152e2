"""Server settings: one dataclass, filled from the command line and STEMCAST_* variables.

Every option of `stemcast serve` has an environment variable of the same name
(`--max-concurrent-jobs` <-> `STEMCAST_MAX_CONCURRENT_JOBS`), so containers can be
configured without a command line. The command line wins over the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stemcast.logging_setup import LogSettings
from stemcast.net.outbound import OutboundPolicy, normalize_host_entry
from stemcast.net.webhooks import parse_secret

DEFAULT_MODEL = "auto"  # htdemucs when its weights are on disk, else the offline engine
DEVICES = ("auto", "cpu", "cuda")
QUEUE_SCHEMES = ("redis", "rediss", "unix")


def default_data_dir() -> Path:
    """Where jobs, uploads and the database live unless --data-dir says otherwise."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "stemcast"


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=default_data_dir)
    model: str = DEFAULT_MODEL
    model_repo: Path | None = None
    model_fetch_timeout: float = 20.0
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None
    shifts: int = 0
    max_concurrent_jobs: int = 1
    library_dirs: list[Path] = field(default_factory=list)
    allowed_path_prefixes: list[Path] = field(default_factory=list)
    # 4 GiB: a 3-hour WAV is 1.9 GB at 16-bit/44.1 kHz, 3.1 GB at 24-bit/48 kHz.
    max_upload_mb: int = 4096
    # 3 hours: memory no longer grows with the track (README "Memory by track length").
    max_duration_s: float = 10800.0
    # A whole URL download (POST /api/tracks/fetch); a read that waits 30 s fails sooner.
    # 15 minutes: a 3-hour mix by URL is 0.4-3 GB.
    fetch_timeout: float = 900.0
    callback_retries: int = 3
    callback_retry_delay: float = 2.0
    callback_timeout: float = 30.0
    token: str | None = None
    # Signs callbacks (Standard Webhooks); never in a repr or a log line.
    callback_secret: str | None = field(default=None, repr=False)
    # Security (SECURITY.md): outbound requests, browser origins, per-client limits.
    fetch_allow_private: bool = False  # URL ingest and callbacks may reach private addresses
    callback_allow_hosts: list[str] = field(default_factory=list)  # "localhost", "host:port"
    fetch_allow_hosts: list[str] = field(default_factory=list)  # the same, for URL ingest
    allow_origins: list[str] = field(default_factory=list)  # extra browser origins
    max_connections_per_address: int = 128
    header_timeout_s: float = 30.0  # to send a request's headers
    body_timeout_s: float = 60.0  # of silence while a request body is being sent
    callback_inline_max_mb: float = 64.0  # base64 stems in a callback body, before encoding
    log_level: str = "info"
    log_json: bool = False
    retention_hours: float | None = None  # None: keep stems however old
    cache_max_gb: float | None = None  # None: no size limit
    min_keep_minutes: float = 10.0
    prune_interval_s: float = 300.0
    # How long one database write waits for another process's write lock (then retried).
    db_busy_timeout_s: float = 5.0
    # Base URL for absolute download URLs (poll mode); None: the URL each job came in on.
    public_url: str | None = None
    # A DJ engine that is a WebSocket server (seed 000's Mismo engine): dial it and serve
    # it as the app server does (ws/engine_peer.py). None: only listen.
    engine_url: str | None = None
    # The fleet (README "Deployment"): separation workers on other machines, reached
    # through Redis (redis://host:6379/0). None: local worker processes, no Redis.
    queue_url: str | None = None
    fleet_workers: int = 0  # jobs handed to the fleet at once; 0: one per live worker
    # With queue_url: where workers put stems when no folder is shared (s3://bucket/prefix,
    # storage/s3.py); None: the data folder is shared with the workers.
    storage_url: str | None = None
    storage_endpoint: str | None = None  # an S3-compatible store's URL (MinIO, R2, ...)
    # With queue_url: fleet workers this server runs itself, on the same Redis queue as the
    # `stemcast worker`s. 0: none (every separation on the fleet).
    workers: int = 0
    # numba's compiled-code cache for the server's processes. None: one folder per process
    # under DATA_DIR/cache (numba's cache is not safe for two writers). A shared folder
    # (STEMCAST_NUMBA_CACHE_DIR) must be filled beforehand, so that it is only read.
    numba_cache_dir: Path | None = field(
        default_factory=lambda: Path(os.environ["STEMCAST_NUMBA_CACHE_DIR"])
        if os.environ.get("STEMCAST_NUMBA_CACHE_DIR") else None)

    def numba_cache(self, process: str) -> Path:
        """The numba cache folder of one of the server's processes."""
        if self.numba_cache_dir is not None:
            return self.numba_cache_dir
        return self.data_dir / "cache" / f"numba-{process}"

    @property
    def log(self) -> LogSettings:
        """--log-level and --log-json, for the processes the server spawns."""
        return LogSettings(self.log_level, self.log_json)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "stemcast.sqlite3"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def analysis_dir(self) -> Path:
        return self.data_dir / "analysis"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def allowed_dirs(self) -> list[Path]:
        """Folders a client may name files in: the library, explicit prefixes, uploads."""
        return [*self.library_dirs, *self.allowed_path_prefixes, self.uploads_dir]

    def fetch_policy(self) -> OutboundPolicy:
        """What POST /api/tracks/fetch may download from."""
        return OutboundPolicy.of(self.fetch_allow_private, self.fetch_allow_hosts)

    def callback_policy(self) -> OutboundPolicy:
        """What callback_url may name: public addresses, plus the allowlisted hosts."""
        return OutboundPolicy.of(self.fetch_allow_private, self.callback_allow_hosts)

    @property
    def callback_inline_max_bytes(self) -> int:
        return int(self.callback_inline_max_mb * 1024 * 1024)

    def validate(self) -> None:
        """Refuse settings that cannot work, with the fix in the message."""
        if not 0 < self.port < 65536:
            raise ValueError(f"--port must be 1..65535, got {self.port}")
        if self.storage_url is not None and self.queue_url is None:
            raise ValueError("--storage is where fleet workers put stems: it needs --queue "
                             "(one machine keeps stems in --data-dir)")
        if self.queue_url is not None and self.queue_url.split("://")[0] not in QUEUE_SCHEMES:
            raise ValueError(f"--queue must be a Redis URL (redis://host:6379/0, rediss://..., "
                             f"unix:///path/redis.sock); got {self.queue_url!r}")
        if self.fleet_workers < 0:
            raise ValueError(f"--fleet-workers must be 0 (one job per live worker) or more, "
                             f"got {self.fleet_workers}")
        if self.workers < 0:
            raise ValueError(f"--workers must be 0 or more, got {self.workers}")
        if self.workers and self.queue_url is None:
            raise ValueError("--workers is for --queue (this server's own workers on the "
                             "fleet's Redis queue); without --queue, local worker processes "
                             "are set with --max-concurrent-jobs")
        if self.max_concurrent_jobs < 1:
            raise ValueError(
                f"--max-concurrent-jobs must be at least 1, got {self.max_concurrent_jobs}"
            )
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(
                f"--device must be one of auto, cpu, cuda, cuda:N; got {self.device!r}"
            )
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(
                f"--precision must be auto, fp32, bf16 or fp16; got {self.precision!r}"
            )
        if self.shifts < 0 or self.shifts > 20:
            raise ValueError(f"--shifts must be 0..20, got {self.shifts}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")
        if self.model_fetch_timeout < 0:
            raise ValueError("--model-fetch-timeout must be >= 0 seconds")
        if self.max_upload_mb < 1:
            raise ValueError("--max-upload-mb must be at least 1")
        if self.max_duration_s <= 0:
            raise ValueError("--max-duration-s must be more than 0")
        if self.fetch_timeout <= 0:
            raise ValueError("--fetch-timeout must be more than 0 seconds")
        if self.callback_retries < 0 or self.callback_retry_delay < 0:
            raise ValueError("--callback-retries and --callback-retry-delay must be >= 0")
        if self.callback_timeout <= 0:
            raise ValueError("--callback-timeout must be more than 0 seconds")
        if self.token is not None and len(self.token) < 8:
            raise ValueError("--token must be at least 8 characters (or leave it unset)")
        if self.callback_secret is not None:
            parse_secret(self.callback_secret)  # its errors never quote the secret
        if self.retention_hours is not None and self.retention_hours <= 0:
            raise ValueError("--retention-hours must be more than 0 (or leave it unset)")
        if self.cache_max_gb is not None and self.cache_max_gb <= 0:
            raise ValueError("--cache-max-gb must be more than 0 (or leave it unset)")
        if self.min_keep_minutes < 0:
            raise ValueError("--min-keep-minutes must be >= 0")
        if not 0 < self.db_busy_timeout_s <= 600:
            raise ValueError("--db-busy-timeout-s must be more than 0 and at most 600")
        if self.prune_interval_s <= 0:
            raise ValueError("--prune-interval-s must be more than 0")
        for flag, entries in (("--callback-allow-host", self.callback_allow_hosts),
                              ("--fetch-allow-host", self.fetch_allow_hosts)):
            for entry in entries:
                try:
                    normalize_host_entry(entry)
                except ValueError as exc:
                    raise ValueError(f"{flag} {entry!r}: {exc}") from None
        for origin in self.allow_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"--allow-origin {origin!r}: give an origin such as "
                                 "https://app.example.com (scheme, host, optional port)")
        if self.max_connections_per_address < 1:
            raise ValueError("--max-connections-per-address must be at least 1")
        if self.header_timeout_s <= 0 or self.body_timeout_s <= 0:
            raise ValueError("--header-timeout-s and --body-timeout-s must be more than 0")
        if self.callback_inline_max_mb <= 0:
            raise ValueError("--callback-inline-max-mb must be more than 0")
        if self.public_url is not None and not self.public_url.startswith(
                ("http://", "https://")):
            raise ValueError(f"--public-url must start with http:// or https://, got "
                             f"{self.public_url!r} (e.g. http://stems.local:8000)")
        if self.engine_url is not None and not self.engine_url.startswith(("ws://", "wss://")):
            raise ValueError(f"--engine-url must start with ws:// or wss://, got "
                             f"{self.engine_url!r} (e.g. ws://127.0.0.1:8080)")
        for folder in self.library_dirs:
            if not folder.is_dir():
                raise ValueError(
                    f"--library {folder} is not a folder; create it or fix the path"
                )

    def prepare_dirs(self) -> None:
        for folder in (self.data_dir, self.jobs_dir, self.uploads_dir, self.analysis_dir):
            folder.mkdir(parents=True, exist_ok=True)
