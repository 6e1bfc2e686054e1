-- Stripe's webhooks and reconciliation (issue 7). A payment is found by the gateway's reference
-- when an event names it; the reconciliation job finds pending operations and refunds whose
-- caller gave up (no lease, or one that lapsed); the staff report reads payments by creation
-- time.
CREATE INDEX payments_gateway_ref ON payments (gateway, gateway_ref);
CREATE INDEX payments_created ON payments (created_at_ms, id);
CREATE INDEX payments_pending ON payments (lease_until_ms) WHERE pending_operation IS NOT NULL;
CREATE INDEX payment_refunds_pending ON payment_refunds (lease_until_ms) WHERE status = 'pending';

-- The inbox of gateway webhooks: one row per event the gateway sent, written in the
-- transaction that applies it, so a redelivered event is recognised and applied only once.
-- `outcome` says what it did: applied (changed a payment), unchanged (the payment was already
-- there or further on), deferred (an operation on the payment was in flight; its caller or the
-- reconciliation job settles it), unknown_payment (no payment of ours), ignored (a kind of
-- event kassa does not act on).
CREATE TABLE payment_gateway_events (
    gateway TEXT NOT NULL,
    event_id TEXT NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    event_type TEXT NOT NULL CHECK (length(event_type) BETWEEN 1 AND 255),
    created_at_ms BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    payment_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'unchanged', 'deferred',
        'unknown_payment', 'ignored')),
    detail TEXT,
    PRIMARY KEY (gateway, event_id)
);
CREATE INDEX payment_gateway_events_payment ON payment_gateway_events (payment_id, received_at_ms);
