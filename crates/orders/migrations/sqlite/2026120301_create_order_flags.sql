-- Flags staff must look at, raised on an order by what other districts report (today: a
-- payment dispute, from payments' `payment.disputed` event), and the inbox of the orders
-- district's bus consumer. The order is this district's own, so it is a foreign key; the payment
-- and the dispute are other districts' and are named by id only.

-- `source_ref` names what raised the flag (for a dispute, the gateway's dispute id); UNIQUE with
-- the kind, so one dispute flags once however often, and through whichever event, it arrives.
-- `detail` is a JSON object: `reason`, `amount` ({"amount_minor", "currency"}), `status` and
-- `payment_id`. A flag is open until staff resolve it (`resolved_at_ms` and `resolved_by`, a
-- staff id, are set together, once).
CREATE TABLE order_flags (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    kind TEXT NOT NULL CHECK (kind IN ('dispute')),
    source_ref TEXT NOT NULL,
    detail TEXT NOT NULL,
    raised_at_ms BIGINT NOT NULL,
    resolved_at_ms BIGINT NULL,
    resolved_by TEXT NULL,
    UNIQUE (kind, source_ref),
    CHECK ((resolved_at_ms IS NULL) = (resolved_by IS NULL))
);
-- An order's flags, oldest first.
CREATE INDEX order_flags_by_order ON order_flags (order_id, raised_at_ms);
-- The staff list of orders with an open flag: the open flags' orders.
CREATE INDEX order_flags_open ON order_flags (order_id) WHERE resolved_at_ms IS NULL;

-- Payments' events this district applied (`PaymentsConsumer`), so a redelivery applies nothing.
CREATE TABLE orders_inbox (
    event_id TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);
