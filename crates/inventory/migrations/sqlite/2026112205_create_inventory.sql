-- Stock per SKU and location, reservations with a TTL, staff adjustments, and the outbox.
-- Quantities are BIGINT units, times BIGINT milliseconds since the Unix epoch (from the
-- district's Clock, never the server's); ids, SKUs and statuses are TEXT.

CREATE TABLE inventory_locations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at_ms BIGINT NOT NULL
);

-- The default location (kassa_inventory::LocationId::DEFAULT): where reservations take stock
-- unless the server configures another location.
INSERT INTO inventory_locations (id, name, created_at_ms)
    VALUES ('loc_00000000000000000000000000000000', 'Default', 0);

-- The invariant of DESIGN promise 1, held by the database itself: 0 <= reserved <= on_hand.
-- Every write is a conditional UPDATE that the CHECKs back up; 1000000000 is
-- kassa_inventory::STOCK_ON_HAND_MAX.
CREATE TABLE inventory_stock (
    sku TEXT NOT NULL,
    location_id TEXT NOT NULL REFERENCES inventory_locations (id),
    on_hand BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (sku, location_id),
    CHECK (on_hand >= 0),
    CHECK (reserved >= 0),
    CHECK (reserved <= on_hand),
    CHECK (on_hand <= 1000000000)
);

-- Staff changes to on_hand by a delta, with why. on_hand_after is the level the delta produced.
CREATE TABLE inventory_adjustments (
    id TEXT PRIMARY KEY,
    sku TEXT NOT NULL,
    location_id TEXT NOT NULL REFERENCES inventory_locations (id),
    delta BIGINT NOT NULL CHECK (delta <> 0),
    reason TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    on_hand_after BIGINT NOT NULL CHECK (on_hand_after >= 0),
    at_ms BIGINT NOT NULL
);

CREATE INDEX inventory_adjustments_sku ON inventory_adjustments (sku, location_id, id);

-- One reservation per order (order_ref is the orders district's id, opaque here): the UNIQUE
-- constraint is what makes reserving idempotent. A status leaves 'active' once, by a
-- conditional UPDATE, and never changes again.
CREATE TABLE inventory_reservations (
    id TEXT PRIMARY KEY,
    order_ref TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('active', 'committed', 'released', 'expired')),
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- What the sweeper looks for: active reservations by expiry.
CREATE INDEX inventory_reservations_due ON inventory_reservations (expires_at_ms)
    WHERE status = 'active';

-- One line per SKU and location; the same SKU asked for twice is combined before it is stored.
CREATE TABLE inventory_reservation_lines (
    reservation_id TEXT NOT NULL REFERENCES inventory_reservations (id),
    sku TEXT NOT NULL,
    location_id TEXT NOT NULL REFERENCES inventory_locations (id),
    quantity BIGINT NOT NULL CHECK (quantity >= 1),
    PRIMARY KEY (reservation_id, sku, location_id)
);

CREATE TABLE inventory_outbox (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    aggregate_id TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    data TEXT NOT NULL,
    published_at_ms BIGINT
);
CREATE INDEX inventory_outbox_unpublished ON inventory_outbox (published_at_ms, id);
