-- Embedded store, version 3: form sessions and attachments, as in
-- schema/cassandra/003_form_sessions.cql (see the comments there).

CREATE TABLE IF NOT EXISTS form_sessions (
    project TEXT NOT NULL,
    uuid TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    saved INTEGER NOT NULL,
    received INTEGER NOT NULL,
    is_deleted INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (project, uuid)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS form_sessions_saved ON form_sessions (project, saved, uuid);
CREATE INDEX IF NOT EXISTS form_sessions_unit ON form_sessions (project, unit_id, saved, uuid);

CREATE TABLE IF NOT EXISTS form_attachments (
    project TEXT NOT NULL,
    uuid TEXT NOT NULL,
    point TEXT NOT NULL,
    id TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (project, uuid, point, id, chunk)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS form_devices (
    project TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    first_used INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    PRIMARY KEY (project, unit_id)
) WITHOUT ROWID;
