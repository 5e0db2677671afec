"""Running as a systemd service: sd_notify, journald logging, process figures."""
