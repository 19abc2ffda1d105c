"""Documentation stays in step with the code."""

from pathlib import Path

from tunehouse.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_in_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [spec.env for spec in SETTINGS if f"`{spec.env}`" not in readme]
    assert missing == []


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/demo.sh" in readme
    assert "scripts/test.sh" in readme
    for script in ("scripts/demo.sh", "scripts/test.sh", "scripts/setup-env.sh", ".ci/run"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_readme_shows_each_settings_default() -> None:
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip().strip("`")
            for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| `TUNEHOUSE_")}
    for spec in SETTINGS:
        assert rows[f"`{spec.env}`"] == spec.default_text, spec.env
