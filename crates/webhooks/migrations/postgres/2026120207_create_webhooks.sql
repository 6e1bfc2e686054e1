-- Outbound webhooks: the endpoints staff registered, one delivery per (endpoint, event) with the
-- exact body to send, every attempt made, and the consumer's inbox of the events it applied.
-- Booleans are BIGINT 0/1, times are milliseconds since the epoch, as everywhere in kassa.

-- An endpoint's signing secrets are kept in clear: every delivery is signed with them. The
-- previous secret (during a rotation) and its expiry are set and cleared together.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    -- A JSON array of the selectors as given: `order.placed`, `order.*`, `*`.
    event_types TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at_ms IS NULL))
);

-- One event for one endpoint. `pending` and `retrying` deliveries have a due time; a claim sets
-- the lease (`lease_id`, `lease_until_ms`) by a conditional update, so one node sends an attempt.
-- `schedule_attempts` counts the attempts since the last replay (what the retry schedule and
-- `dead` go by); `attempt_count` all of them. Deleting an endpoint deletes its deliveries.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'succeeded', 'dead')),
    attempt_count BIGINT NOT NULL CHECK (attempt_count >= 0),
    schedule_attempts BIGINT NOT NULL CHECK (schedule_attempts >= 0 AND schedule_attempts <= attempt_count),
    next_attempt_at_ms BIGINT,
    lease_id TEXT,
    lease_until_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (endpoint_id, event_id),
    CHECK ((status IN ('pending', 'retrying')) = (next_attempt_at_ms IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every attempt, numbered from 1 per delivery; replays add to the same history. The response
-- body is kept only up to the configured limit (`response_body_truncated` says it was cut).
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number BIGINT NOT NULL CHECK (number >= 1),
    attempted_at_ms BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL CHECK (duration_ms >= 0),
    status_code BIGINT,
    error TEXT,
    response_body TEXT NOT NULL,
    response_body_truncated BIGINT NOT NULL CHECK (response_body_truncated IN (0, 1)),
    PRIMARY KEY (delivery_id, number)
);

CREATE TABLE webhooks_inbox (
    event_id TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);
