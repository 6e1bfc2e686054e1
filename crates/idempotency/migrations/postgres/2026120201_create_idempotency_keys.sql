-- Idempotency-Key records: one row per (caller scope, key). Times are BIGINT milliseconds since
-- the Unix epoch from the district's Clock, never the server's.
--
-- A row is 'running' while the first request with its key is being handled (lease_id names
-- that request's claim; lease_until_ms is when another request may take the claim over, should
-- the first one have died), then 'completed' with the response to replay. The PRIMARY KEY is
-- what lets the database, not a lock in one process, decide which of several racing requests
-- runs: each tries a conditional INSERT … ON CONFLICT DO UPDATE, and only one gets a row back.
-- A server error (5xx) is never stored (the row is deleted so the client may retry), hence the
-- status range. The response body is bytes as the handler wrote them.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL CHECK (length(scope) BETWEEN 1 AND 200),
    key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint TEXT NOT NULL CHECK (length(fingerprint) = 64),
    state TEXT NOT NULL CHECK (state IN ('running', 'completed')),
    lease_id TEXT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    response_status BIGINT CHECK (response_status BETWEEN 100 AND 499),
    response_headers TEXT,
    response_body BYTEA,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, key),
    CHECK (
        (state = 'running' AND response_status IS NULL AND response_headers IS NULL
            AND response_body IS NULL)
        OR (state = 'completed' AND response_status IS NOT NULL
            AND response_headers IS NOT NULL AND response_body IS NOT NULL)
    )
);

-- What the purge looks for: records past their TTL, oldest first.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at_ms);
