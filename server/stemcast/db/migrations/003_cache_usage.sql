-- Completed jobs are the stem cache: when each was last served or announced (for
-- least-recently-used pruning and the never-under-a-fresh-reader rule) and its size.

ALTER TABLE jobs ADD COLUMN last_used_at TEXT;
ALTER TABLE jobs ADD COLUMN size_bytes INTEGER;
UPDATE jobs SET last_used_at = finished_at WHERE state = 'completed';
CREATE INDEX jobs_completed_lru ON jobs (state, last_used_at);
