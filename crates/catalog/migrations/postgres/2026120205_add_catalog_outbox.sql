-- The catalog's outbox: one event per catalog change, in the change's transaction. Nodes read
-- it to keep their read caches fresh; the relay publishes it to the bus.
CREATE TABLE catalog_outbox (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    aggregate_id TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    data TEXT NOT NULL,
    published_at_ms BIGINT
);
CREATE INDEX catalog_outbox_unpublished ON catalog_outbox (published_at_ms, id);
