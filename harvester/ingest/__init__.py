"""Ingest: files, folders and zips read as payloads, and import runs into the catalogue."""
