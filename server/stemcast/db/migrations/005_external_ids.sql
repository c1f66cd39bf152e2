-- Seed 000's app server (Mismo) names tracks by its own UUIDs, and poll-mode clients need
-- absolute download URLs.

-- The id a client gave the track (POST /api/tracks {"trackId"}, `stemcast add --id`).
-- A track registered with one takes it as its id; external_id records that it came from
-- outside, so a second client cannot silently rename the track.
ALTER TABLE tracks ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX tracks_external_id ON tracks (external_id) WHERE external_id IS NOT NULL;

-- The base URL (scheme://host:port) the job was submitted to: poll-mode stem URLs in its
-- callbacks are made absolute with it (or with --public-url).
ALTER TABLE api_jobs ADD COLUMN public_url TEXT;
