"""End-to-end tests: real sshd + dockerd hosts from the lab (tests/lab/)."""
