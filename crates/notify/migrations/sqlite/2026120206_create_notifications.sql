-- The notifications district: the consumer inbox (event ids already turned into messages, so a
-- redelivered event queues nothing) and the messages themselves, which are also the development
-- mailbox staff read.
CREATE TABLE notification_inbox (
    event_id TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);

-- One row per email to a shopper. `queued` rows are sent by the sender once
-- `next_attempt_at_ms` has passed; a sender claims a row by moving `next_attempt_at_ms` to the
-- end of its lease and setting `lease_id`, so two senders never hold one message at once and a
-- crashed sender's message is due again when its lease ends. `sent` and `failed` are final and
-- have no `next_attempt_at_ms`. One message per (event, kind): the UNIQUE constraint backs the
-- inbox, should an event ever be applied twice.
CREATE TABLE notification_messages (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('order_confirmed', 'order_shipped', 'order_cancelled', 'order_refunded')),
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    transport TEXT,
    attempts BIGINT NOT NULL CHECK (attempts >= 0),
    next_attempt_at_ms BIGINT,
    lease_id TEXT,
    last_error TEXT,
    created_at_ms BIGINT NOT NULL,
    sent_at_ms BIGINT,
    UNIQUE (event_id, kind),
    CHECK ((status = 'queued') = (next_attempt_at_ms IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_at_ms IS NOT NULL))
);
-- The sender's question: which queued messages are due, oldest due first.
CREATE INDEX notification_messages_due ON notification_messages (status, next_attempt_at_ms, id);
