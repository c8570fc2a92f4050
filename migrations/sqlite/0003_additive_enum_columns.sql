-- Enum columns stay additive: drop the CHECK lists on
-- call_records.status, call_records.direction and memberships.role, so a
-- new value (a call status, a role) needs no table rebuild. The values
-- are validated in Rust instead: the store binds only the domain enums
-- (admin/src/domain/enums.rs) and re-parses every stored value on the way
-- out, so an unknown value read back is a decode error, never a value.
-- Keep in step with migrations/postgres/0003_additive_enum_columns.sql.
--
-- SQLite cannot drop a constraint, so each table is rebuilt the way
-- https://www.sqlite.org/lang_altertable.html#otheralter describes: create
-- the new table, copy every row, drop the old one, rename, recreate the
-- indexes (no triggers or views refer to these tables). The migrator runs
-- this file in one transaction. Foreign keys stay on (PRAGMA foreign_keys
-- cannot change inside a transaction): that is safe here because no table
-- references call_records or memberships, so dropping them fires no
-- foreign key action, and every copied row is checked against its parents
-- again on insert. Column order, names, defaults and the other
-- constraints (named ones keep their names) are unchanged.

CREATE TABLE call_records_new (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id        TEXT,
    direction       TEXT    NOT NULL,
    from_uri        TEXT    NOT NULL,
    to_uri          TEXT    NOT NULL,
    sip_call_id     TEXT    NOT NULL,
    attempted_at    INTEGER NOT NULL,
    answered_at     INTEGER,
    ended_at        INTEGER,
    status          TEXT    NOT NULL,
    hangup_cause    TEXT,
    sip_status      INTEGER CHECK (sip_status BETWEEN 100 AND 699),
    duration_ms     INTEGER,
    transcript      TEXT    NOT NULL DEFAULT '[]',
    latency         TEXT    NOT NULL DEFAULT '[]',
    recording_path  TEXT,
    CONSTRAINT call_records_agent_fkey FOREIGN KEY (tenant_id, agent_id)
        REFERENCES voice_agents (tenant_id, id)
);
INSERT INTO call_records_new (id, tenant_id, agent_id, direction, from_uri, to_uri,
        sip_call_id, attempted_at, answered_at, ended_at, status, hangup_cause,
        sip_status, duration_ms, transcript, latency, recording_path)
    SELECT id, tenant_id, agent_id, direction, from_uri, to_uri,
        sip_call_id, attempted_at, answered_at, ended_at, status, hangup_cause,
        sip_status, duration_ms, transcript, latency, recording_path
    FROM call_records;
DROP TABLE call_records;
ALTER TABLE call_records_new RENAME TO call_records;
CREATE INDEX call_records_tenant_attempted_idx ON call_records (tenant_id, attempted_at);
CREATE INDEX call_records_tenant_status_idx ON call_records (tenant_id, status);
CREATE INDEX call_records_tenant_agent_idx ON call_records (tenant_id, agent_id);
CREATE INDEX call_records_status_idx ON call_records (status);

-- A super admin membership has no tenant; every other role has one (this
-- rule stays: it names one role, it does not list them).
CREATE TABLE memberships_new (
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id   TEXT    REFERENCES tenants (id) ON DELETE CASCADE,
    role        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    CONSTRAINT memberships_user_tenant_key UNIQUE (user_id, tenant_id),
    CONSTRAINT memberships_role_scope_check CHECK ((role = 'super_admin') = (tenant_id IS NULL))
);
INSERT INTO memberships_new (user_id, tenant_id, role, created_at)
    SELECT user_id, tenant_id, role, created_at FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_new RENAME TO memberships;
-- UNIQUE (user_id, tenant_id) does not catch two NULL tenants.
CREATE UNIQUE INDEX memberships_super_admin_key ON memberships (user_id) WHERE tenant_id IS NULL;
CREATE INDEX memberships_tenant_idx ON memberships (tenant_id);
