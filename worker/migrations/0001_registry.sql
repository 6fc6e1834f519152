-- The registry: users, their parties (relay certificates), certificates of deleted parties,
-- data planes (relays), issued tickets (audit), signed-request nonces (replay refusal) and
-- pair -> relay assignments.
-- Times are unix seconds. Later migrations reference users(name) with ON DELETE CASCADE,
-- so users.name stays the primary key.

CREATE TABLE users (
  name TEXT PRIMARY KEY NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE parties (
  user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  name TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
  relay_cert TEXT NOT NULL,
  -- x5t#S256 of relay_cert: the kid of the party's signed requests.
  fingerprint TEXT NOT NULL UNIQUE,
  not_after INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  PRIMARY KEY (user_name, name)
);
CREATE INDEX parties_by_name ON parties (name, user_name);
CREATE INDEX parties_revoked ON parties (status, not_after);

-- Relay certificates of parties that left the registry (their user was deleted). They still
-- chain to the relay CA until they expire, so data planes must keep refusing them, as they
-- refuse revoked parties; the trigger makes that hold for every way a party row can go.
CREATE TABLE retired_certificates (
  fingerprint TEXT PRIMARY KEY NOT NULL,
  not_after INTEGER NOT NULL
);
CREATE INDEX retired_certificates_expiry ON retired_certificates (not_after);

CREATE TRIGGER parties_retire_certificate AFTER DELETE ON parties
BEGIN
  INSERT OR IGNORE INTO retired_certificates (fingerprint, not_after) VALUES (old.fingerprint, old.not_after);
END;

CREATE TABLE relays (
  name TEXT PRIMARY KEY NOT NULL,
  -- JSON array of host names / IP addresses the data plane listens on.
  hosts TEXT NOT NULL,
  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
  cert TEXT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  not_after INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_report_at INTEGER,
  -- JSON RelayLoad from the last report.
  load TEXT
);
CREATE INDEX relays_last_report ON relays (last_report_at);

-- Audit of issued tickets; kept when the user goes (no foreign key on purpose).
CREATE TABLE tickets (
  jti TEXT PRIMARY KEY NOT NULL,
  user_name TEXT NOT NULL,
  party TEXT NOT NULL,
  dest TEXT NOT NULL,
  pair TEXT NOT NULL,
  relay TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX tickets_by_party ON tickets (user_name, party, issued_at);

-- jti of each accepted signed request, kept until it could no longer pass the iat check.
CREATE TABLE request_nonces (
  signer TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (signer, jti)
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_at);

-- Both sides of a pair must meet on the same data plane even if the set of live relays
-- changes between their two ticket requests.
CREATE TABLE pair_assignments (
  pair TEXT PRIMARY KEY NOT NULL,
  relay TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX pair_assignments_expiry ON pair_assignments (expires_at);
