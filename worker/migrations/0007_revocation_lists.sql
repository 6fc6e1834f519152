-- Each user's revocation list exactly as the user's CLI signed it: a compact JWS by the user
-- CA, whose key the worker never holds. The worker serves it as it came, so it can withhold a
-- list but not edit one. seq only grows: an older list never replaces a newer one.
-- Times are unix seconds.
CREATE TABLE revocation_lists (
  user_name TEXT PRIMARY KEY NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  seq INTEGER NOT NULL CHECK (seq >= 1),
  list TEXT NOT NULL,
  -- JSON array of the party names the list holds, as read when it was stored.
  parties TEXT NOT NULL,
  published_at INTEGER NOT NULL
);
