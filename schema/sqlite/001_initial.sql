-- datapoints embedded store (SQLite), version 1: the same contract as the Cassandra
-- schema (schema/cassandra/001_initial.cql), shaped for one file on one machine.
-- Applied automatically when the embedded store opens (it is local; no operator step).

-- Versions applied, and when.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

-- Settings fixed at creation (row_width_ms), as on Cassandra.
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The points. Keyed like the Cassandra table (project, metric, tag hash, then time);
-- row_time is kept so both stores answer "which rows hold data" alike.
-- expires_at: unix seconds after which the point is gone (NULL = never). Reads ignore
-- expired points and writes purge them, which is what Cassandra's TTL does natively.
CREATE TABLE IF NOT EXISTS data_points (
    project TEXT NOT NULL,
    metric TEXT NOT NULL,
    tag_hash INTEGER NOT NULL,
    row_time INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_at REAL,
    PRIMARY KEY (project, metric, tag_hash, ts)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS data_points_expiry
    ON data_points (expires_at) WHERE expires_at IS NOT NULL;

-- Every series with its tags (JSON object text) and the latest expiry of its data;
-- series_tags finds series by one tag pair, as series_by_tag does on Cassandra.
CREATE TABLE IF NOT EXISTS series (
    project TEXT NOT NULL,
    metric TEXT NOT NULL,
    tag_hash INTEGER NOT NULL,
    tags TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (project, metric, tag_hash)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS series_tags (
    project TEXT NOT NULL,
    metric TEXT NOT NULL,
    tag_name TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    tag_hash INTEGER NOT NULL,
    PRIMARY KEY (project, metric, tag_name, tag_value, tag_hash)
) WITHOUT ROWID;
