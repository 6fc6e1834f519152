-- A data plane can be revoked: it gets no new tickets and its load reports are refused.
-- Existing relays stay active. The row stays (not deleted) so the name is not reused by a
-- new relay while the old certificate still chains to the relay CA.
ALTER TABLE relays ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked'));
ALTER TABLE relays ADD COLUMN revoked_at INTEGER;
