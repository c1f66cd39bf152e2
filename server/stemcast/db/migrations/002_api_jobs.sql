-- Jobs made over the seed-compatible HTTP API, and their callbacks (a durable outbox:
-- a callback target that is down, or a restart, loses no notification).

CREATE TABLE api_jobs (
    id                TEXT PRIMARY KEY,         -- the client's track_hash when given
    track_id          TEXT REFERENCES tracks (id) ON DELETE SET NULL,
    track_hash        TEXT,
    separation_job_id TEXT,                     -- the shared separation job, once known
    options           TEXT NOT NULL,            -- JSON {stems, basic_features, characteristics}
    priority          TEXT NOT NULL CHECK (priority IN ('high', 'normal', 'low')),
    callback_url      TEXT,
    delivery_mode     TEXT NOT NULL CHECK (delivery_mode IN ('path', 'callback', 'poll')),
    status            TEXT NOT NULL
                      CHECK (status IN ('queued', 'processing', 'completed', 'failed',
                                        'cancelled')),
    stage             TEXT NOT NULL,
    progress          REAL NOT NULL DEFAULT 0,
    stages_completed  TEXT NOT NULL DEFAULT '[]',
    error_code        TEXT,
    error_message     TEXT,
    processing_time   REAL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE INDEX api_jobs_status ON api_jobs (status);

CREATE TABLE callbacks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    api_job_id      TEXT NOT NULL REFERENCES api_jobs (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    stage           TEXT NOT NULL,
    status          TEXT NOT NULL,
    timestamp       TEXT NOT NULL,
    data            TEXT NOT NULL,              -- JSON; audio is inlined at send time
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,              -- unix time
    last_error      TEXT,
    delivered_at    TEXT
);

CREATE INDEX callbacks_pending ON callbacks (state, api_job_id, id);
