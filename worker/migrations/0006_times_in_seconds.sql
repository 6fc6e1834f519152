-- Every stored time is unix seconds. ow_backends.backoff_until and ow_activations.created_at
-- were epoch milliseconds; a back-off is rounded up so it never ends earlier than it did.
UPDATE ow_backends SET backoff_until = (backoff_until + 999) / 1000 WHERE backoff_until > 0;
UPDATE ow_activations SET created_at = created_at / 1000;
