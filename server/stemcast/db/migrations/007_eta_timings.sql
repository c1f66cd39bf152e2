-- What finished jobs took, per stage, so a restarted server estimates its first job as
-- well as its tenth: the ETA's history (stemcast.jobs.eta_history), the recent jobs of
-- each model, device and length bucket (audio under 10 s, 10-20 s, 20-40 s, ...).

CREATE TABLE eta_timings (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,           -- the order they finished
    model            TEXT NOT NULL,
    device           TEXT NOT NULL,                               -- --device: cpu, cuda, auto
    length_bucket    INTEGER NOT NULL CHECK (length_bucket >= 0),
    duration_seconds REAL NOT NULL CHECK (duration_seconds > 0),  -- of the audio
    -- {"decoding": {"seconds": 0.1, "curve": [[fraction, share], ...]}, "separating": ...}
    stages           TEXT NOT NULL,
    finished_at      TEXT NOT NULL
);
CREATE INDEX eta_timings_key ON eta_timings (model, device, length_bucket, id);
