"""FHIR R4 import: bulk NDJSON and Bundle/resource JSON files -> patients, medication requests, dispenses."""

from medjobs_tui.fhir.importer import ImportReport, SkippedLine, import_paths
from medjobs_tui.fhir.reader import FhirImportError

__all__ = ["FhirImportError", "ImportReport", "SkippedLine", "import_paths"]
