-- Payments, their refunds and the gateway calls made for them (attempts), plus the district's
-- outbox. Money is BIGINT minor units in the payment's currency, times BIGINT milliseconds since
-- the Unix epoch; ids, codes and enums are TEXT with a CHECK. The invariants of
-- kassa_payments::model::Payment are repeated here so the database refuses what the code must
-- never write; `refunded_minor <= captured_minor` is what keeps concurrent refunds honest.

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    -- The order's reference, opaque here: one payment per order.
    order_ref TEXT NOT NULL UNIQUE CHECK (length(order_ref) BETWEEN 1 AND 128),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    status TEXT NOT NULL CHECK (status IN ('requires_payment_method', 'processing',
        'requires_action', 'requires_capture', 'succeeded', 'canceled', 'failed')),
    captured_minor BIGINT NOT NULL CHECK (captured_minor >= 0 AND captured_minor <= amount_minor),
    -- Succeeded plus pending refunds: a refund is reserved here before the gateway is called.
    refunded_minor BIGINT NOT NULL CHECK (refunded_minor >= 0),
    gateway TEXT NOT NULL,
    gateway_ref TEXT,
    -- The gateway's token for the payment method (never card data), kept only while no
    -- authorization outcome is recorded, so the authorization can be re-sent with its key.
    payment_method_token TEXT,
    next_action_url TEXT,
    decline_code TEXT,
    decline_message TEXT,
    -- A gateway call whose outcome is not recorded yet: authorize, capture or void.
    pending_operation TEXT CHECK (pending_operation IN ('authorize', 'capture', 'void')),
    pending_amount_minor BIGINT,
    -- Who is calling the gateway about the pending operation (the id its attempt will have)
    -- and until when; another caller takes over only after it expires, so one pending
    -- operation never has two calls in flight.
    lease_id TEXT,
    lease_until_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    CHECK (refunded_minor <= captured_minor),
    CHECK ((lease_id IS NULL) = (lease_until_ms IS NULL)),
    CHECK (lease_id IS NULL OR pending_operation IS NOT NULL),
    CHECK ((status = 'succeeded') = (captured_minor > 0)),
    CHECK ((status = 'processing') = (pending_operation IS NOT NULL
        AND pending_operation = 'authorize')),
    CHECK ((pending_operation IS NOT NULL AND pending_operation = 'capture'
            AND pending_amount_minor > 0 AND pending_amount_minor <= amount_minor)
        OR ((pending_operation IS NULL OR pending_operation <> 'capture')
            AND pending_amount_minor IS NULL)),
    CHECK ((status = 'requires_action') = (next_action_url IS NOT NULL)),
    CHECK ((decline_code IS NULL) = (decline_message IS NULL)),
    CHECK (decline_code IS NULL OR status = 'failed'),
    CHECK (payment_method_token IS NULL
        OR status IN ('requires_payment_method', 'processing'))
);

CREATE TABLE payment_refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    gateway_ref TEXT,
    failure_code TEXT,
    failure_message TEXT,
    -- As on payments: who is calling the gateway about this pending refund, until when.
    lease_id TEXT,
    lease_until_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    CHECK ((failure_code IS NULL) = (failure_message IS NULL)),
    CHECK ((lease_id IS NULL) = (lease_until_ms IS NULL)),
    CHECK (lease_id IS NULL OR status = 'pending'),
    CHECK (failure_code IS NULL OR status = 'failed')
);

CREATE INDEX payment_refunds_payment_id ON payment_refunds (payment_id, id);

CREATE TABLE payment_attempts (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    refund_id TEXT REFERENCES payment_refunds (id),
    operation TEXT NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
    idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    amount_minor BIGINT,
    outcome TEXT NOT NULL CHECK (outcome IN ('succeeded', 'requires_action', 'declined',
        'failed', 'unknown')),
    detail TEXT,
    at_ms BIGINT NOT NULL,
    CHECK ((operation = 'refund') = (refund_id IS NOT NULL))
);

CREATE INDEX payment_attempts_payment_id ON payment_attempts (payment_id, id);
-- Whether a key ever had an unknown outcome decides how a later failure is read.
CREATE INDEX payment_attempts_idempotency_key ON payment_attempts (idempotency_key, outcome);

CREATE TABLE payments_outbox (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    aggregate_id TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    data TEXT NOT NULL,
    published_at_ms BIGINT
);
CREATE INDEX payments_outbox_unpublished ON payments_outbox (published_at_ms, id);
