-- Admin plane schema, PostgreSQL flavour. Keep in step with
-- migrations/sqlite/0001_admin_init.sql (same tables, columns,
-- constraint names; only the column types differ).
--
-- Conventions: ids are UUID v7 TEXT; timestamps are BIGINT unix
-- milliseconds; booleans are BOOLEAN; JSON documents are TEXT; enums
-- are snake_case TEXT checked against their allowed values. Unique
-- constraints are named: the store maps violations to a field by name
-- (PostgreSQL) or by column list (SQLite), see admin/src/store/error.rs.

CREATE TABLE tenants (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    plan        TEXT    NOT NULL DEFAULT 'free',
    created_at  BIGINT  NOT NULL,
    CONSTRAINT tenants_name_key UNIQUE (name),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    email          TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    totp_secret    TEXT,
    totp_recovery  TEXT,
    status         TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at     BIGINT  NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

-- A super admin membership has no tenant; every other role has one.
CREATE TABLE memberships (
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id   TEXT    REFERENCES tenants (id) ON DELETE CASCADE,
    role        TEXT    NOT NULL CHECK (role IN ('super_admin', 'admin', 'agent')),
    created_at  BIGINT  NOT NULL,
    CONSTRAINT memberships_user_tenant_key UNIQUE (user_id, tenant_id),
    CONSTRAINT memberships_role_scope_check CHECK ((role = 'super_admin') = (tenant_id IS NULL))
);
-- UNIQUE (user_id, tenant_id) does not catch two NULL tenants.
CREATE UNIQUE INDEX memberships_super_admin_key ON memberships (user_id) WHERE tenant_id IS NULL;
CREATE INDEX memberships_tenant_idx ON memberships (tenant_id);

CREATE TABLE api_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    prefix        TEXT    NOT NULL,
    key_hash      TEXT    NOT NULL,
    created_by    TEXT    REFERENCES users (id) ON DELETE SET NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at);
CREATE INDEX api_keys_created_by_idx ON api_keys (created_by);

-- id is the SHA-256 of the cookie token (the token itself is never stored).
CREATE TABLE sessions (
    id                 TEXT    NOT NULL PRIMARY KEY,
    user_id            TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id          TEXT    REFERENCES tenants (id) ON DELETE SET NULL,
    masquerading_from  TEXT    REFERENCES users (id) ON DELETE CASCADE,
    csrf_token         TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    expires_at         BIGINT  NOT NULL,
    last_seen_at       BIGINT  NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_masquerading_idx ON sessions (masquerading_from);
CREATE INDEX sessions_tenant_idx ON sessions (tenant_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE voice_agents (
    id                TEXT    NOT NULL PRIMARY KEY,
    tenant_id         TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    greeting          TEXT    NOT NULL,
    system_prompt     TEXT    NOT NULL,
    flow              TEXT,
    language          TEXT    NOT NULL,
    stt_provider      TEXT    NOT NULL,
    llm_provider      TEXT    NOT NULL,
    tts_provider      TEXT    NOT NULL,
    voice             TEXT    NOT NULL,
    barge_in_enabled  BOOLEAN NOT NULL,
    barge_in_min_ms   BIGINT  NOT NULL CHECK (barge_in_min_ms >= 0),
    endpointing_ms    BIGINT  NOT NULL CHECK (endpointing_ms >= 0),
    credentials_enc   TEXT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    CONSTRAINT voice_agents_tenant_name_key UNIQUE (tenant_id, name),
    -- Target of the composite foreign keys below: an agent can only be
    -- referenced from rows of its own tenant.
    CONSTRAINT voice_agents_tenant_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE phone_numbers (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    address     TEXT    NOT NULL,
    agent_id    TEXT,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT phone_numbers_address_key UNIQUE (address),
    CONSTRAINT phone_numbers_agent_fkey FOREIGN KEY (tenant_id, agent_id)
        REFERENCES voice_agents (tenant_id, id)
);
CREATE INDEX phone_numbers_tenant_idx ON phone_numbers (tenant_id, address);
CREATE INDEX phone_numbers_agent_idx ON phone_numbers (tenant_id, agent_id);

CREATE TABLE sip_trunks (
    id                 TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name               TEXT    NOT NULL,
    host               TEXT    NOT NULL,
    port               BIGINT  NOT NULL CHECK (port BETWEEN 1 AND 65535),
    transport          TEXT    NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    auth_user          TEXT,
    auth_password_enc  TEXT,
    register           BOOLEAN NOT NULL,
    created_at         BIGINT  NOT NULL,
    CONSTRAINT sip_trunks_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE call_records (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id        TEXT,
    direction       TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_uri        TEXT    NOT NULL,
    to_uri          TEXT    NOT NULL,
    sip_call_id     TEXT    NOT NULL,
    attempted_at    BIGINT  NOT NULL,
    answered_at     BIGINT,
    ended_at        BIGINT,
    status          TEXT    NOT NULL CHECK (status IN
                        ('ringing', 'in_progress', 'completed', 'failed', 'no_answer', 'busy')),
    hangup_cause    TEXT,
    sip_status      BIGINT  CHECK (sip_status BETWEEN 100 AND 699),
    duration_ms     BIGINT,
    transcript      TEXT    NOT NULL DEFAULT '[]',
    latency         TEXT    NOT NULL DEFAULT '[]',
    recording_path  TEXT,
    CONSTRAINT call_records_agent_fkey FOREIGN KEY (tenant_id, agent_id)
        REFERENCES voice_agents (tenant_id, id)
);
CREATE INDEX call_records_tenant_attempted_idx ON call_records (tenant_id, attempted_at);
CREATE INDEX call_records_tenant_status_idx ON call_records (tenant_id, status);
CREATE INDEX call_records_tenant_agent_idx ON call_records (tenant_id, agent_id);
CREATE INDEX call_records_status_idx ON call_records (status);

-- Append-only; no foreign keys so entries outlive deleted tenants/users.
CREATE TABLE audit_log (
    id             TEXT    NOT NULL PRIMARY KEY,
    actor_user_id  TEXT,
    actor_label    TEXT    NOT NULL,
    tenant_id      TEXT,
    action         TEXT    NOT NULL,
    target         TEXT    NOT NULL,
    before_state   TEXT,
    after_state    TEXT,
    ip             TEXT,
    at             BIGINT  NOT NULL
);
CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);
