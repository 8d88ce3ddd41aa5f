-- Embedded store, version 2: projects and analytics events, as in
-- schema/cassandra/002_projects_events.cql (see the comments there).

CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    mode TEXT NOT NULL,
    session_gap INTEGER NOT NULL,
    timezone TEXT NOT NULL,
    key_hash BLOB NOT NULL,
    key_nonce BLOB NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    user_attributes TEXT NOT NULL,
    device_attributes TEXT NOT NULL,
    identified INTEGER NOT NULL,
    extras TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (project, user_id, device_id, ts, event_id)
) WITHOUT ROWID;

-- Users and devices: latest attributes (per key, with the time of the event that set
-- it), first and last seen; upserts keep the earliest and the latest by event time.
CREATE TABLE IF NOT EXISTS users (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    identified INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    last_device TEXT NOT NULL,
    PRIMARY KEY (project, user_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS devices (
    project TEXT NOT NULL,
    device_id TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (project, device_id)
) WITHOUT ROWID;

-- kind: 'user' or 'device'; owner: the user or device id.
CREATE TABLE IF NOT EXISTS attributes (
    project TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (project, kind, owner, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS device_users (
    project TEXT NOT NULL,
    device_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (project, device_id, user_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS aliases (
    project TEXT NOT NULL,
    alias_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project, alias_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS alias_members (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (project, user_id, member_id)
) WITHOUT ROWID;
