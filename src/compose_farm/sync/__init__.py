"""Copying folders to hosts: stack folders (sync) and data folders (moves)."""
