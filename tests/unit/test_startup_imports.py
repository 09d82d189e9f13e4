"""What `medjobs` loads before the dashboard paints: the runner, the job handlers, the FHIR importer, apprise and
prometheus_client are imported by the commands and views that use them, not on the way to the first tab."""

from __future__ import annotations

import subprocess
import sys

LATER = ("medjobs_tui.engine.runner", "medjobs_tui.jobs", "medjobs_tui.fhir", "apprise", "prometheus_client",
         "apscheduler.schedulers")


def test_opening_the_dashboard_imports_neither_the_runner_nor_the_handlers_nor_the_importer():
    code = ("import sys, medjobs_tui.cli, medjobs_tui.tui.app; "
            f"print(' '.join(m for m in {LATER!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_a_fhir_import_error_still_exits_2_with_its_message(tmp_path):
    from click.testing import CliRunner

    from medjobs_tui import cli
    from medjobs_tui.fhir import FhirImportError

    @cli.main.command("fail-import-for-test", hidden=True)
    def fail() -> None:
        raise FhirImportError("bundle.json: not FHIR")

    try:
        result = CliRunner().invoke(cli.main, ["--config", str(tmp_path / "none.yaml"), "fail-import-for-test"])
    finally:
        cli.main.commands.pop("fail-import-for-test")
    assert result.exit_code == 2 and "import error: bundle.json: not FHIR" in result.output
