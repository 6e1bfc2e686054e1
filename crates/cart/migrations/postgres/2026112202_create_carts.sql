-- Carts, their lines, staff-configured shipping options and tax rates.
-- Money is BIGINT minor units, weights BIGINT grams, rates BIGINT parts per million, times
-- BIGINT milliseconds since the Unix epoch; ids, codes and enums are TEXT.

CREATE TABLE cart_shipping_options (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    kind TEXT NOT NULL CHECK (kind IN ('flat', 'weight_tiers')),
    -- Set exactly when kind = 'flat'; tiers live in cart_shipping_tiers.
    flat_amount_minor BIGINT CHECK (flat_amount_minor >= 0),
    created_at_ms BIGINT NOT NULL,
    CHECK ((kind = 'flat' AND flat_amount_minor IS NOT NULL)
        OR (kind = 'weight_tiers' AND flat_amount_minor IS NULL))
);

CREATE TABLE cart_shipping_option_countries (
    option_id TEXT NOT NULL REFERENCES cart_shipping_options (id) ON DELETE CASCADE,
    country TEXT NOT NULL CHECK (length(country) = 2),
    PRIMARY KEY (option_id, country)
);

CREATE INDEX cart_shipping_option_countries_country
    ON cart_shipping_option_countries (country);

CREATE TABLE cart_shipping_tiers (
    option_id TEXT NOT NULL REFERENCES cart_shipping_options (id) ON DELETE CASCADE,
    max_weight_grams BIGINT NOT NULL CHECK (max_weight_grams BETWEEN 0 AND 4294967295),
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (option_id, max_weight_grams)
);

CREATE TABLE carts (
    id TEXT PRIMARY KEY,
    -- SHA-256 of the cart token in lowercase hex; the token itself is never stored.
    token_hash TEXT NOT NULL CHECK (length(token_hash) = 64),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    email TEXT,
    ship_name TEXT,
    ship_line1 TEXT,
    ship_line2 TEXT,
    ship_city TEXT,
    ship_postal_code TEXT,
    ship_region TEXT,
    ship_country TEXT CHECK (length(ship_country) = 2),
    ship_phone TEXT,
    -- Deleting a shipping option un-chooses it in every cart.
    shipping_option_id TEXT REFERENCES cart_shipping_options (id) ON DELETE SET NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    -- An address is stored whole or not at all.
    CHECK ((ship_name IS NULL AND ship_line1 IS NULL AND ship_line2 IS NULL
            AND ship_city IS NULL AND ship_postal_code IS NULL AND ship_region IS NULL
            AND ship_country IS NULL AND ship_phone IS NULL)
        OR (ship_name IS NOT NULL AND ship_line1 IS NOT NULL AND ship_city IS NOT NULL
            AND ship_postal_code IS NOT NULL AND ship_country IS NOT NULL))
);

CREATE INDEX carts_shipping_option_id ON carts (shipping_option_id);

CREATE TABLE cart_lines (
    id TEXT PRIMARY KEY,
    cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    -- 1 to kassa_kernel::quantity::QUANTITY_MAX.
    quantity BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    created_at_ms BIGINT NOT NULL,
    -- One line per SKU: adding a SKU again adds to its line.
    UNIQUE (cart_id, sku)
);

CREATE TABLE cart_tax_rates (
    country TEXT PRIMARY KEY CHECK (length(country) = 2),
    rate_ppm BIGINT NOT NULL CHECK (rate_ppm BETWEEN 0 AND 1000000),
    updated_at_ms BIGINT NOT NULL
);
