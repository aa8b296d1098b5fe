-- Settings as docs/settings.md describes them: a JSON value, or a secret sealed as text.
--
-- value            any JSON value but null (app/settings_store/values.py); text stored by 0001 becomes
--                  a JSON string, which renders in templates exactly as before.
-- encrypted_value  `v1.<base64url>` from app/secrets/sealing.py (AES-256-GCM under a key derived from
--                  ENCRYPTION_KEY and the user id, or the system key), as provider keys are stored.
ALTER TABLE app.settings ALTER COLUMN value TYPE jsonb USING to_jsonb(value);
ALTER TABLE app.settings ALTER COLUMN encrypted_value TYPE text USING convert_from(encrypted_value, 'UTF8');

-- A setting always has a value: a plain one its JSON, a secret its sealed text (0001's check).
ALTER TABLE app.settings DROP CONSTRAINT IF EXISTS settings_has_value;
ALTER TABLE app.settings ADD CONSTRAINT settings_has_value
  CHECK (is_secret OR (value IS NOT NULL AND jsonb_typeof(value) <> 'null'));

-- A user's own settings, listed by key (the unique index leads with the key).
CREATE INDEX IF NOT EXISTS settings_user_key ON app.settings (user_id, key);
