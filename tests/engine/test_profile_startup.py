"""The built-in profile at start-up: proved valid here once, so a run need not
validate it (nor import jsonschema); a --profile file, the built-in file's own
path included, is always validated."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harborkit.engine.profile import builtin_data, load_profile
from harborkit.errors import InputError
from harborkit.resources import default_profile
from harborkit.yamlfile import load_yaml, validate

REPO = Path(__file__).resolve().parents[2]


def test_the_built_in_profile_is_valid_against_the_schema() -> None:
    doc = load_yaml(default_profile(), "profile")
    validate(doc, "profile.schema.json")  # raises on the first error
    assert load_profile().data == doc.data


def test_built_in_unvalidated_equals_the_same_file_validated() -> None:
    assert load_profile().data == load_profile(default_profile()).data


def test_built_in_shared_data_is_not_the_copy_callers_edit() -> None:
    mine = load_profile()
    mine.data["docker"]["min_version"] = "99.0"  # type: ignore[index]
    assert builtin_data()["docker"]["min_version"] == "17.06.0"
    assert load_profile().data["docker"]["min_version"] == "17.06.0"


@pytest.mark.parametrize(
    ("given", "validated"),
    [(None, False), ("builtin-path", True), ("copy", True)],
)
def test_only_a_given_profile_loads_jsonschema(
    tmp_path: Path, given: str | None, validated: bool
) -> None:
    path = {None: None, "builtin-path": str(default_profile())}.get(given)
    if given == "copy":
        path = str(shutil.copy(default_profile(), tmp_path / "p.yaml"))
    code = (
        "import sys\n"
        "from harborkit.engine.profile import load_profile\n"
        f"load_profile({path!r})\n"
        "print('jsonschema' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert (r.returncode, r.stdout) == (0, f"{validated}\n"), r.stderr


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (("min_version: 17.06.0", "min_version: [17]"), "min_version"),
        (("name: harbor-v1.8.0", "name: harbor-v1.8.0\nbogus_key: 1"), "bogus_key"),
    ],
)
def test_a_copy_of_the_built_in_with_an_error_is_refused(
    tmp_path: Path, edit: tuple[str, str], words: str
) -> None:
    text = default_profile().read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(InputError) as e:
        load_profile(bad)
    assert str(bad) in e.value.message and words in e.value.message
