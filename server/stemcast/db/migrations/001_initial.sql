-- Tracks the server knows and separation jobs. Applied once, in a transaction.

CREATE TABLE tracks (
    id               TEXT PRIMARY KEY,          -- stable UUID, handed to clients as trackId
    path             TEXT NOT NULL UNIQUE,      -- absolute, resolved path of the audio file
    title            TEXT,
    source           TEXT NOT NULL,             -- cli | api | upload | scan | path
    file_size        INTEGER NOT NULL,
    file_mtime       REAL NOT NULL,             -- with file_size: tells when the file changed
    container        TEXT,
    duration_seconds REAL NOT NULL,
    sample_rate      INTEGER NOT NULL,
    channels         INTEGER NOT NULL,
    pcm_hash         TEXT,                      -- sha256 of the decoded PCM, null until computed
    bpm              REAL,
    musical_key      TEXT,                      -- pitch class "0".."11" as in seed 000
    mode             TEXT,                      -- "1" major, "0" minor
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE INDEX tracks_pcm_hash ON tracks (pcm_hash);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL UNIQUE,    -- FIFO order within a priority
    cache_key       TEXT NOT NULL,              -- pcm hash + model + options
    pcm_hash        TEXT NOT NULL,
    track_id        TEXT REFERENCES tracks (id) ON DELETE SET NULL,
    input_path      TEXT NOT NULL,
    model           TEXT NOT NULL,
    options         TEXT NOT NULL,              -- JSON
    priority        TEXT NOT NULL CHECK (priority IN ('high', 'normal', 'low')),
    state           TEXT NOT NULL
                    CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    stage           TEXT NOT NULL,
    progress        REAL NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0, -- worker crashes while running this job
    error_code      TEXT,
    error_message   TEXT,
    output_dir      TEXT NOT NULL,
    stems           TEXT,                       -- JSON {stem: absolute path} once completed
    duration_seconds REAL,
    processing_time REAL,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT
);

CREATE INDEX jobs_queue ON jobs (state, priority, seq);
CREATE INDEX jobs_cache_key ON jobs (cache_key, state);
-- At most one live job per piece of work: the database enforces the dedup too.
CREATE UNIQUE INDEX jobs_one_live_per_key ON jobs (cache_key) WHERE state IN ('queued', 'running');
