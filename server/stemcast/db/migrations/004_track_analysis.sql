-- Track analysis (basic features: bpm, beats, key, loudness, audible span, mix waveform).
-- bpm, musical_key and mode (001) stay the columns trackInfo reads; the rest is JSON.

ALTER TABLE tracks ADD COLUMN analysis_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (analysis_state IN ('pending', 'done', 'failed'));
ALTER TABLE tracks ADD COLUMN analysis_error TEXT;
ALTER TABLE tracks ADD COLUMN features TEXT;          -- JSON of BasicFeatures.to_dict()
ALTER TABLE tracks ADD COLUMN analyzed_at TEXT;
CREATE INDEX tracks_analysis_pending ON tracks (analysis_state);

-- The stems' sample rate, kept with the job (a later server may run other models).
ALTER TABLE jobs ADD COLUMN sample_rate INTEGER;
