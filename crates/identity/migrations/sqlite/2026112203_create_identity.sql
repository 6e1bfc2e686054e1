-- Customers and staff, their sessions and refresh tokens, sign-in throttle counters and the
-- staff audit log. Times are BIGINT milliseconds since the Unix epoch; ids, emails, roles and
-- kinds are TEXT. Emails are stored with ASCII letters lower-cased, so UNIQUE means one
-- account per email ignoring case. Password hashes are argon2id PHC strings, which carry
-- their own parameters.

CREATE TABLE identity_customers (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    password_changed_at_ms BIGINT NOT NULL
);

CREATE TABLE identity_staff (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'support')),
    created_at_ms BIGINT NOT NULL,
    password_changed_at_ms BIGINT NOT NULL,
    -- Staff are never deleted, only disabled, so the audit log can always name them.
    disabled_at_ms BIGINT
);

-- A session is one sign-in; subject_id is a customer or staff id as subject_kind says.
CREATE TABLE identity_sessions (
    id TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('customer', 'staff')),
    subject_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    revoked_reason TEXT,
    CHECK ((revoked_at_ms IS NULL) = (revoked_reason IS NULL))
);

CREATE INDEX identity_sessions_subject ON identity_sessions (subject_kind, subject_id);

-- The family of refresh tokens of a session: each use marks one used and adds its successor.
-- Only the SHA-256 of a token is kept, in lowercase hex.
CREATE TABLE identity_refresh_tokens (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES identity_sessions (id),
    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT
);

CREATE INDEX identity_refresh_tokens_session_id ON identity_refresh_tokens (session_id);

-- Fixed-window attempt counters; key is a purpose and the SHA-256 of what is counted.
CREATE TABLE identity_throttle (
    key TEXT PRIMARY KEY,
    window_start_ms BIGINT NOT NULL,
    count BIGINT NOT NULL CHECK (count >= 0)
);

CREATE TABLE identity_audit_log (
    id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES identity_staff (id),
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    client_addr TEXT,
    request_id TEXT
);

CREATE INDEX identity_audit_log_at ON identity_audit_log (at_ms, id);
CREATE INDEX identity_audit_log_staff_id ON identity_audit_log (staff_id);
