-- Restocks: a committed reservation's units put back on hand because its order was cancelled
-- after confirmation. One row per order, inserted in the same transaction as the stock
-- increments, so the primary key is what makes restocking happen once however often it is
-- asked for.
CREATE TABLE inventory_restocks (
    order_ref TEXT PRIMARY KEY,
    reservation_id TEXT NOT NULL REFERENCES inventory_reservations (id),
    restocked_at_ms BIGINT NOT NULL
);
