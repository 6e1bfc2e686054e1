-- Orders made from cart snapshots, their lines and fulfilments, the checkout saga's persisted
-- state and its lease, and the outbox. Money is BIGINT minor units in the order's currency,
-- times BIGINT milliseconds since the Unix epoch (from the district's Clock); ids, SKUs,
-- statuses and steps are TEXT. Carts, customers and payments are other districts': they are
-- named by id only, never by a foreign key.

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    cart_id TEXT NOT NULL,
    -- The cart id while this order holds its cart's one open checkout: set at creation, set to
    -- NULL when the checkout ends cancelled or payment_failed before confirmation (the shopper
    -- may then try again). UNIQUE makes "one open order per cart" a database fact: a second
    -- checkout of the cart cannot insert its order and follows this one instead.
    open_cart_id TEXT UNIQUE CHECK (open_cart_id IS NULL OR open_cart_id = cart_id),
    customer_id TEXT,
    email TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'awaiting_payment', 'confirmed',
        'partially_fulfilled', 'fulfilled', 'delivered', 'cancelled', 'payment_failed',
        'refunded')),
    close_reason TEXT CHECK (close_reason IN ('insufficient_stock', 'payment_declined',
        'gateway_unavailable', 'reservation_expired', 'staff')),
    saga_step TEXT NOT NULL CHECK (saga_step IN ('reserve', 'authorize', 'await_action',
        'commit', 'capture', 'close_cart', 'compensate', 'done')),
    -- The address as the cart held it, as a JSON object of its fields.
    shipping_address TEXT NOT NULL,
    shipping_option_id TEXT NOT NULL,
    shipping_name TEXT NOT NULL,
    tax_rate_ppm BIGINT CHECK (tax_rate_ppm >= 0),
    subtotal_minor BIGINT NOT NULL CHECK (subtotal_minor >= 0),
    shipping_minor BIGINT NOT NULL CHECK (shipping_minor >= 0),
    tax_minor BIGINT NOT NULL CHECK (tax_minor >= 0),
    total_minor BIGINT NOT NULL,
    -- As payments last reported them.
    captured_minor BIGINT NOT NULL DEFAULT 0,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    payment_id TEXT,
    -- The shopper's gateway token, kept only while the saga may still have to authorize with
    -- it; cleared when the saga is done.
    payment_method TEXT,
    -- SHA-256 (hex) of the guest's order token; the token itself is never stored.
    token_hash TEXT,
    reservation_expires_at_ms BIGINT,
    -- Who drives the saga now, and until when: taken by a conditional UPDATE when NULL or
    -- expired, so one driver (request, recovery worker, node) at a time.
    saga_lease_id TEXT,
    saga_lease_until_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    confirmed_at_ms BIGINT,
    CHECK (total_minor = subtotal_minor + shipping_minor + tax_minor),
    CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor
        AND captured_minor <= total_minor),
    CHECK (status NOT IN ('cancelled', 'payment_failed') OR close_reason IS NOT NULL),
    CHECK ((saga_lease_id IS NULL) = (saga_lease_until_ms IS NULL))
);

-- The staff list, newest first (ids are time-ordered), by each filter.
CREATE INDEX orders_by_status ON orders (status, id);
CREATE INDEX orders_by_customer ON orders (customer_id, id);
CREATE INDEX orders_by_email ON orders (email, id);
-- The recovery worker: sagas not done, by lease expiry.
CREATE INDEX orders_saga_open ON orders (saga_lease_until_ms) WHERE saga_step <> 'done';
-- The TTL sweeper: open checkouts by reservation expiry.
CREATE INDEX orders_reservation_due ON orders (reservation_expires_at_ms)
    WHERE status IN ('pending', 'awaiting_payment');

-- The cart's lines as priced at checkout; a cart holds each SKU once.
CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders (id),
    line_no BIGINT NOT NULL,
    sku TEXT NOT NULL,
    product_id TEXT NOT NULL,
    product_title TEXT NOT NULL,
    variant_title TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity >= 1),
    unit_price_minor BIGINT NOT NULL CHECK (unit_price_minor >= 0),
    line_total_minor BIGINT NOT NULL,
    fulfilled_quantity BIGINT NOT NULL DEFAULT 0
        CHECK (fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity),
    PRIMARY KEY (order_id, sku),
    CHECK (line_total_minor = unit_price_minor * quantity)
);

CREATE TABLE order_fulfilments (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    carrier TEXT NOT NULL CHECK (length(carrier) BETWEEN 1 AND 100),
    tracking_number TEXT NOT NULL CHECK (length(tracking_number) BETWEEN 1 AND 100),
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX order_fulfilments_by_order ON order_fulfilments (order_id, id);

CREATE TABLE order_fulfilment_lines (
    fulfilment_id TEXT NOT NULL REFERENCES order_fulfilments (id),
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity >= 1),
    PRIMARY KEY (fulfilment_id, sku)
);

CREATE TABLE orders_outbox (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    aggregate_id TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    data TEXT NOT NULL,
    published_at_ms BIGINT
);
CREATE INDEX orders_outbox_unpublished ON orders_outbox (published_at_ms, id);
