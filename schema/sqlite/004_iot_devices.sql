-- Embedded store, version 4: IoT devices and datastreams, as in
-- schema/cassandra/004_iot_devices.cql (see the comments there).

CREATE TABLE IF NOT EXISTS iot_devices (
    project TEXT NOT NULL,
    device_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    location TEXT NOT NULL,
    auth_info TEXT NOT NULL,
    other TEXT NOT NULL,
    private INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    created_at TEXT NOT NULL,
    key_hash BLOB NOT NULL,
    key_nonce BLOB NOT NULL,
    PRIMARY KEY (project, device_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS iot_streams (
    project TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    tags TEXT NOT NULL,
    unit TEXT NOT NULL,
    unit_symbol TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    PRIMARY KEY (project, device_id, stream_id)
) WITHOUT ROWID;
