-- The OpenWhisk proxy: registered backends (credentials sealed with AES-GCM), the routing
-- policy of each user, caller keys (only their SHA-256), and which backend holds which
-- activation. Times are unix seconds except backoff_until and activation times (epoch ms,
-- the unit OpenWhisk itself uses).

CREATE TABLE ow_backends (
  name TEXT PRIMARY KEY NOT NULL,
  -- NULL: a shared backend that serves every user.
  user_name TEXT REFERENCES users(name) ON DELETE CASCADE,
  apihost TEXT NOT NULL,
  -- "v1.<iv>.<ciphertext>" (base64url), AES-256-GCM with the backend name as additional data.
  auth_sealed TEXT NOT NULL,
  insecure INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  -- Exponential moving average of measured call times; NULL until the first call.
  latency_ms REAL,
  backoff_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ow_backends_by_user ON ow_backends (user_name, name);

CREATE TABLE ow_routing (
  user_name TEXT PRIMARY KEY NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  policy TEXT NOT NULL CHECK (policy IN ('round-robin', 'random', 'least-latency'))
);

CREATE TABLE wsk_keys (
  uuid TEXT PRIMARY KEY NOT NULL,
  user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  -- base64url SHA-256 of the key; the key itself is shown once and never stored.
  key_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX wsk_keys_by_user ON wsk_keys (user_name, uuid);

CREATE TABLE ow_activations (
  user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  activation_id TEXT NOT NULL,
  backend TEXT NOT NULL REFERENCES ow_backends(name) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_name, activation_id)
);
CREATE INDEX ow_activations_by_age ON ow_activations (created_at);
