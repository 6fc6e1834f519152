-- Ticket issuance is rate limited per party by a token bucket: `tokens` were left at
-- `updated_at` (unix seconds). The CHECK refuses a take that would go below zero, which fails
-- the ticket's whole write batch. The bucket goes with its party.
CREATE TABLE ticket_buckets (
  user_name TEXT NOT NULL,
  party TEXT NOT NULL,
  tokens REAL NOT NULL CONSTRAINT ticket_bucket_not_empty CHECK (tokens >= 0),
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (user_name, party),
  FOREIGN KEY (user_name, party) REFERENCES parties (user_name, name) ON DELETE CASCADE
);
