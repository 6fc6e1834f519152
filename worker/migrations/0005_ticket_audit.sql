-- The ticket audit is read per user, newest first, and swept by age (the daily cron).
CREATE INDEX tickets_by_user ON tickets (user_name, issued_at, jti);
CREATE INDEX tickets_issued ON tickets (issued_at);
