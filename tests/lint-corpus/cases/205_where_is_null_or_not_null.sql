UPDATE users SET verified = true WHERE email IS NULL OR email IS NOT NULL;
