"""Notice registry schema changes before the parsers go quietly wrong.

Each sync saves ``/api/v2/version``; when the data version moved, it also saves
``/studies/metadata`` and ``/studies/enums`` and reports the fields and enum values that
appeared or vanished since the last snapshot.
"""

from __future__ import annotations

from typing import Any

import msgspec

from harvester.catalogue import Catalogue
from harvester.catalogue.syncstate import latest_snapshot, save_snapshot
from harvester.fetch.ctgov import CtgovApi
from harvester.fetch.summary import SchemaReport as SchemaReport  # re-exported


def field_paths(metadata: Any, prefix: str = "") -> set[str]:
    """Every field of a /studies/metadata tree, as a dotted path of JSON names."""
    found: set[str] = set()
    for node in metadata if isinstance(metadata, list) else []:
        if not isinstance(node, dict) or "name" not in node:
            continue
        path = f"{prefix}.{node['name']}" if prefix else str(node["name"])
        found.add(path)
        found |= field_paths(node.get("children"), path)
    return found


def enum_values(enums: Any) -> set[str]:
    """Every value of a /studies/enums answer, as ``Type.VALUE``."""
    return {f"{e.get('type')}.{v.get('value')}" for e in enums if isinstance(e, dict)
            for v in e.get("values", []) if isinstance(v, dict)} if isinstance(
        enums, list) else set()


def watch_schema(catalogue: Catalogue, api: CtgovApi,
                 version: dict[str, Any] | None = None) -> SchemaReport:
    """Save the registry's version (``version``: its answer, fetched already) and report
    what changed in its schema."""
    if version is None:
        version = api.version()
    stamp = str(version.get("dataTimestamp") or version["apiVersion"])
    previous = latest_snapshot(catalogue, "version")
    report = SchemaReport(str(version["apiVersion"]), stamp,
                          previous[0] if previous else None)
    if previous is not None and previous[0] == stamp:
        save_snapshot(catalogue, "version", stamp, msgspec.json.encode(version).decode())
        return report
    # Both documents first, the version last: if a fetch fails, nothing is saved and the next
    # sync (same dataTimestamp) checks again instead of taking the schema as seen.
    documents = [(kind, api.document(path), items)
                 for kind, path, items in (("metadata", "studies/metadata", field_paths),
                                           ("enums", "studies/enums", enum_values))]
    for kind, body, items in documents:
        before = latest_snapshot(catalogue, kind)
        save_snapshot(catalogue, kind, stamp, body.decode("utf-8", "replace"))
        if before is None:
            continue
        old, new = (items(_decode(text)) for text in (before[1].encode(), body))
        added, removed = sorted(new - old), sorted(old - new)
        if kind == "metadata":
            report.fields_added, report.fields_removed = added, removed
        else:
            report.enum_values_added, report.enum_values_removed = added, removed
    save_snapshot(catalogue, "version", stamp, msgspec.json.encode(version).decode())
    return report


def _decode(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None
