"""Exports of the catalogue: one small class per format, all listed in :data:`EXPORTERS`.

``trials export --format NAME`` offers every entry; an exporter implements
:class:`harvester.export.base.Exporter`.  Add a format with one line here.
"""

from __future__ import annotations

from harvester.export.base import Exporter
from harvester.export.bibtex import BibtexExporter
from harvester.export.csljson import CslJsonExporter
from harvester.export.csvfile import CsvExporter
from harvester.export.jsonl import JsonlExporter
from harvester.export.parquet import ParquetExporter
from harvester.export.ris import RisExporter
from harvester.export.xlsx import XlsxExporter

EXPORTERS: dict[str, type[Exporter]] = {
    "csv": CsvExporter,
    "jsonl": JsonlExporter,
    "ris": RisExporter,
    "csl-json": CslJsonExporter,
    "bibtex": BibtexExporter,
    "xlsx": XlsxExporter,
    "parquet": ParquetExporter,
}

__all__ = ["EXPORTERS", "Exporter"]
