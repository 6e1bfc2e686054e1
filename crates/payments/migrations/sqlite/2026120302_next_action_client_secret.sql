-- 3-D Secure through the gateway's own script (Stripe.js `handleNextAction`): the client secret
-- the storefront needs, kept while the payment requires action. `next_action_url` stays set
-- exactly while it requires action and is empty when the action has no redirect.
ALTER TABLE payments ADD COLUMN next_action_client_secret TEXT;
