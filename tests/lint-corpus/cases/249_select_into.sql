SELECT id, email INTO users_backup_2026 FROM users;
