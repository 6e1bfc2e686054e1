-- The catalog: categories, products, their variants (one SKU each), option values and prices.
-- Ids are prefixed UUIDv7 text, so ordering by id is creation order. Times are milliseconds since
-- the Unix epoch, passed in from the application clock. Keep in step with the postgres/ file.

CREATE TABLE catalog_categories (
    id TEXT PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE catalog_products (
    id TEXT PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    -- The title lower-cased by the application, for case-insensitive substring search.
    title_search TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'archived')),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- The public listing: active products in id (creation) order after a cursor.
CREATE INDEX catalog_products_status_id ON catalog_products (status, id);

CREATE TABLE catalog_product_categories (
    product_id TEXT NOT NULL REFERENCES catalog_products (id),
    category_id TEXT NOT NULL REFERENCES catalog_categories (id),
    PRIMARY KEY (product_id, category_id)
);

-- The category filter of the listing.
CREATE INDEX catalog_product_categories_category
    ON catalog_product_categories (category_id, product_id);

CREATE TABLE catalog_variants (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES catalog_products (id),
    sku TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    weight_grams BIGINT NOT NULL CHECK (weight_grams >= 0),
    status TEXT NOT NULL CHECK (status IN ('active', 'archived')),
    -- Order of the variant within its product, from 0.
    position BIGINT NOT NULL CHECK (position >= 0),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- Loading a product's variants, and the price filter's EXISTS.
CREATE INDEX catalog_variants_product ON catalog_variants (product_id, position);

CREATE TABLE catalog_variant_options (
    variant_id TEXT NOT NULL REFERENCES catalog_variants (id),
    position BIGINT NOT NULL CHECK (position >= 0),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (variant_id, name)
);

CREATE TABLE catalog_prices (
    variant_id TEXT NOT NULL REFERENCES catalog_variants (id),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (variant_id, currency)
);
