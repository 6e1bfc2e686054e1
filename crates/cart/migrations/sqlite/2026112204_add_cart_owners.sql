-- Carts of signed-in customers (see kassa_cart::model::access for who may open which cart).
-- customer_id names a customer of the identity district by id only: no foreign key across
-- districts. NULL means an anonymous cart, opened by its token.
ALTER TABLE carts ADD COLUMN customer_id TEXT;

-- 'open' carts are in use. 'merged': an anonymous cart whose lines went into the customer's
-- cart at sign-in. 'set_aside': a customer's cart replaced by a newer open one; its owner can
-- still read it. Neither takes writes.
ALTER TABLE carts ADD COLUMN status TEXT NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'merged', 'set_aside'));

-- A customer has at most one open cart. It also serves the lookup of that cart.
CREATE UNIQUE INDEX carts_one_open_per_customer ON carts (customer_id)
    WHERE status = 'open' AND customer_id IS NOT NULL;

-- One row per customer who ever had a cart: the row the transactions that change a customer's
-- open cart lock first (an upsert on it), so they run one after the other per customer on
-- every backend, without advisory locks.
CREATE TABLE cart_customers (
    customer_id TEXT PRIMARY KEY
);
