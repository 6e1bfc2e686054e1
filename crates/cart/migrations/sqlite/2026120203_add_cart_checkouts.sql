-- Carts that were checked out: the order (the orders district's id, opaque here) that closed
-- each one. Inserted in the same transaction that sets the cart aside, so completing a
-- checkout twice finds this row and changes nothing.
CREATE TABLE cart_checkouts (
    cart_id TEXT PRIMARY KEY REFERENCES carts (id),
    order_ref TEXT NOT NULL CHECK (length(order_ref) BETWEEN 1 AND 128),
    completed_at_ms BIGINT NOT NULL
);
