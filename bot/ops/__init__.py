"""Operating the bot in production: health, metrics, logs, the self-check, backups and retention."""
