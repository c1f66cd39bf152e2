-- The library keeps one row per audio: uploads are known by the sha256 of their bytes
-- (a second upload of the same file is the first track again), and hot cues are kept per
-- track on the server so that an engine (Mismo's hotCues) reads what the page set.

ALTER TABLE tracks ADD COLUMN file_sha256 TEXT;  -- sha256 of the file's bytes, for uploads
CREATE INDEX tracks_file_sha256 ON tracks (file_sha256);

CREATE TABLE cues (
    track_id   TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE ON UPDATE CASCADE,
    slot       INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 7),  -- the hot-cue pad, 0..7
    position   REAL NOT NULL CHECK (position >= 0),           -- seconds from the start
    is_loop    INTEGER NOT NULL DEFAULT 0 CHECK (is_loop IN (0, 1)),
    loop_end   REAL CHECK (loop_end IS NULL OR loop_end > position),  -- s, when is_loop
    name       TEXT,
    color      TEXT,                                          -- "#rrggbb"
    updated_at TEXT NOT NULL,
    PRIMARY KEY (track_id, slot)
);
