-- The `insecure` flag of OpenWhisk backends is gone: Workers' fetch always verifies TLS
-- certificates, so a stored "skip verification" had no effect and only misled.
ALTER TABLE ow_backends DROP COLUMN insecure;
