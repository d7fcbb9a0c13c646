"""The Parquet export: one typed table, one row per trial, for pandas, polars, DuckDB or R.

Columns, in this order:

- the exported version (the search log's :func:`~harvester.export.log.version_fields`):
  ``nct_id``, ``version`` (its number in the trial's history), ``version_id``, ``source``,
  ``registry_date`` (``date32``), ``registry_version``, ``content_hash``, ``seen_at``
  (``timestamp[us, UTC]``), ``version_url``;
- the record's main fields (:data:`~harvester.export.rows.TRIAL_COLUMNS`), typed: strings,
  ``int64``, ``float64``, ``bool``, and ``list<string>`` for multi-valued fields.  A date is
  two columns, since the registry often gives only a month or a year: ``start_date``
  (``date32``, the first day of the period when partial) and ``start_date_precision``
  (``day``, ``month`` or ``year``) — together exactly what the registry wrote;
- the child tables as nested columns, ``list<struct<…>>``: ``arms``, ``interventions`` (which
  replaces the flat ``"TYPE: name"`` list of the CSV: the structs hold its type and name and
  more), ``sites``, ``criteria`` and ``outcomes`` (every planned outcome measure: its kind,
  position within the kind, title, description and time frame).  Conditions and keywords
  are the flat ``conditions`` and ``keywords`` columns.  DuckDB: ``SELECT nct_id,
  unnest(sites, recursive := true) FROM 'trials.parquet'``; polars:
  ``df.explode("sites").unnest("sites")``.

One Parquet file holds one table, so the child tables are nested rather than separate files:
the export stays a single file, and nothing needs joining back.

Rows are gathered :data:`BATCH_ROWS` at a time (as Arrow arrays, :data:`CHUNK_ROWS` trials at
a time) and written as one row group each, so memory stays flat however many trials are
exported.  The search log (JSON) is written when the file is closed — the counts are known
only then — as the file's key/value metadata ``trial_harvester.search_log``
(``pyarrow.parquet.read_metadata(path).metadata``, DuckDB's ``parquet_kv_metadata()``,
polars' ``read_parquet_metadata()``).  The Arrow schema is not
embedded (``store_schema=False``): the Parquet types alone read back as the same Arrow types,
and readers then show the search log as the schema's metadata too.  Values are the record's,
uncut and uncleaned (Parquet has no cell limit and nothing in it can run).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import IO, Any, ClassVar, Literal

import msgspec

from harvester.export.base import ExportItem
from harvester.export.log import VERSION_FIELDS, SearchLog, version_fields
from harvester.export.rows import CHILD_TABLES, TRIAL_COLUMNS, ChildTable, Column, Kind, Value
from harvester.records import TrialRecord

#: Trials per row group.
BATCH_ROWS = 5_000
#: Trials held as Python objects before they are turned into (much smaller) Arrow arrays.
CHUNK_ROWS = 500
#: The file metadata key of the search log (JSON).
LOG_KEY = "trial_harvester.search_log"
PRECISION = {4: "year", 7: "month", 10: "day"}  # by the length of the ISO partial date

_TYPED_VERSION_FIELDS: dict[str, Kind | Literal["timestamp"]] = {
    "version": "int", "version_id": "int", "registry_date": "date", "seen_at": "timestamp"}
#: The version columns: the search log's version fields (text unless typed above).
VERSION_KINDS: dict[str, Kind | Literal["timestamp"]] = {
    name: _TYPED_VERSION_FIELDS.get(name, "str") for name in VERSION_FIELDS}
#: Child tables nested in the trial row (conditions: the flat conditions/keywords columns).
NESTED: tuple[ChildTable, ...] = tuple(t for t in CHILD_TABLES if t.name != "conditions")
_NESTED_NAMES = {t.name for t in NESTED}
#: Trial columns kept (the version columns come first; a nested table replaces its flat list).
FLAT: tuple[Column, ...] = tuple(
    c for c in TRIAL_COLUMNS if c.name not in VERSION_KINDS and c.name not in _NESTED_NAMES)


def schema() -> Any:
    """The Arrow schema of a trials Parquet export."""
    # pyarrow is imported when it is needed, not by every `trials` command.
    import pyarrow as pa

    arrow: dict[str, Any] = {
        "str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
        "date": pa.date32(), "list": pa.list_(pa.string()),
        "timestamp": pa.timestamp("us", tz="UTC")}
    fields = [pa.field(name, arrow[kind]) for name, kind in VERSION_KINDS.items()]
    for column in FLAT:
        fields.append(pa.field(column.name, arrow[column.kind]))
        if column.kind == "date":
            fields.append(pa.field(f"{column.name}_precision", pa.string()))
    for table in NESTED:
        struct = pa.struct([pa.field(name, arrow[kind]) for name, kind in table.columns])
        fields.append(pa.field(table.name, pa.list_(struct)))
    return pa.schema(fields)


def split_date(value: str | None) -> tuple[date | None, str | None]:
    """A partial ISO date as (its first day, its precision)."""
    if value is None:
        return None, None
    parts = value.split("-")
    first = date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1,
                 int(parts[2]) if len(parts) > 2 else 1)
    return first, PRECISION[len(value)]


def join_date(first: date | None, precision: str | None) -> str | None:
    """The partial ISO date back from :func:`split_date`'s pair."""
    if first is None:
        return None
    text = first.isoformat()
    return {"year": text[:4], "month": text[:7]}.get(precision or "day", text)


def _version_value(name: str, value: object) -> object:
    if name == "registry_date" and isinstance(value, str):
        return split_date(value)[0]
    return value  # seen_at: version_fields gives it as an aware UTC datetime


class _Columns:
    """Up to CHUNK_ROWS trials as Python lists, column by column; a child table as the flat
    lists of its fields and the offsets of each trial's rows (no dict per child row)."""

    def __init__(self, arrow_schema: Any) -> None:
        self.schema = arrow_schema
        self.clear()

    def clear(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self.children: dict[str, list[list[Value]]] = {
            t.name: [[] for _ in t.columns] for t in NESTED}
        self.offsets: dict[str, list[int]] = {t.name: [0] for t in NESTED}
        self.rows = 0

    def add(self, record: TrialRecord, fields: dict[str, object]) -> None:
        columns = self.columns
        for name in VERSION_KINDS:
            columns[name].append(_version_value(name, fields.get(name)))
        for column in FLAT:
            value = column.get(record)
            if column.kind == "date":
                first, precision = split_date(value if isinstance(value, str) else None)
                columns[column.name].append(first)
                columns[f"{column.name}_precision"].append(precision)
            else:
                columns[column.name].append(value)
        for table in NESTED:
            lists = self.children[table.name]
            # Transposed, a column at a time (no child rows: nothing to add).
            by_column = zip(*table.rows(record), strict=True)
            for values, column_values in zip(lists, by_column, strict=False):
                values.extend(column_values)
            self.offsets[table.name].append(len(lists[0]))
        self.rows += 1

    def batch(self) -> Any:
        """The rows as an Arrow record batch (compact), and empty again."""
        import pyarrow as pa

        arrays = []
        for field in self.schema:
            if field.name in self.children:
                struct = field.type.value_type
                values = pa.StructArray.from_arrays(
                    [pa.array(v, type=f.type) for v, f in zip(
                        self.children[field.name], struct, strict=True)], fields=list(struct))
                arrays.append(pa.ListArray.from_arrays(
                    pa.array(self.offsets[field.name], type=pa.int32()), values))
            else:
                arrays.append(pa.array(self.columns[field.name], type=field.type))
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self.clear()
        return batch


class ParquetExporter:
    """Parquet: one typed table, one row per trial, child tables as nested lists."""

    name: ClassVar[str] = "parquet"
    suffix: ClassVar[str] = ".parquet"
    description: ClassVar[str] = (
        "Parquet: typed columns, one row per trial, child tables nested (pandas, polars, DuckDB)")

    def write(self, items: Iterable[ExportItem], out: IO[bytes], log: SearchLog) -> int:
        import pyarrow.parquet as pq

        arrow_schema = schema()
        columns = _Columns(arrow_schema)
        chunks: list[Any] = []  # Arrow batches of the row group being gathered
        count = 0
        with pq.ParquetWriter(out, arrow_schema, compression="zstd",
                              store_schema=False) as writer:
            for item in items:
                columns.add(item.view, version_fields(item))
                log.add(item)
                count += 1
                if columns.rows >= CHUNK_ROWS:
                    chunks.append(columns.batch())
                if count % BATCH_ROWS == 0:
                    _write_group(writer, arrow_schema, chunks, columns)
            _write_group(writer, arrow_schema, chunks, columns)
            writer.add_key_value_metadata(
                {LOG_KEY: msgspec.json.encode(log.summary()).decode()})
        return count


def _write_group(writer: Any, arrow_schema: Any, chunks: list[Any], columns: _Columns) -> None:
    """Write the rows gathered as one row group."""
    import pyarrow as pa

    if columns.rows:
        chunks.append(columns.batch())
    if chunks:
        table = pa.Table.from_batches(chunks, schema=arrow_schema)
        writer.write_table(table, row_group_size=table.num_rows)
        chunks.clear()
