"""verify_bundle in-process: every refusal with its error class, exit code and
exact one line, and what a good bundle's result holds (members, bytes hashed,
progress, signature, installer), on bundles written here with ``tarfile``."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harborkit.bundle import sign
from harborkit.bundle.consistency import shown_names as _names
from harborkit.bundle.errors import BundleCorrupt, BundleHostile
from harborkit.bundle.format import (
    IMAGES_MANIFEST,
    METADATA_NAME,
    SUMS_NAME,
    format_sums,
    installer_member,
)
from harborkit.bundle.sbom import SBOM_NAME, SbomInvalid
from harborkit.bundle.sign import SIGNATURE_NAME, SignatureError
from harborkit.bundle.verify import _member_problems, verify_bundle
from harborkit.errors import ExitCode
from tests.support.bundles import (
    INSTALLER,
    INSTALLER_FILES,
    Parts,
    Progress,
    Recorded,
    delta,
    file_record,
    make_parts,
    sha,
    tgz,
)

INST = installer_member(INSTALLER)
CORE, DB = "goharbor/harbor-core:v1.8.0", "goharbor/harbor-db:v1.8.0"


def write(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))
    return path


def sums_of(parts: Parts) -> bytes:
    return format_sums([(n, sha(d)) for n, d in parts.members])


def corrupt(path: Path, message: str, cls: type[Exception] = BundleCorrupt) -> None:
    with pytest.raises(cls) as e:
        verify_bundle(path)
    assert e.value.message == message  # type: ignore[attr-defined]
    want = {
        BundleCorrupt: ExitCode.BUNDLE_CORRUPT,
        BundleHostile: ExitCode.BUNDLE_HOSTILE,
        SignatureError: ExitCode.SIGNATURE,
    }.get(cls)
    if want is not None:
        assert e.value.exit_code == want  # type: ignore[attr-defined]


def manifest(parts: Parts) -> list[dict[str, Any]]:
    return json.loads(parts.get(IMAGES_MANIFEST))  # type: ignore[no-any-return]


# --- a good bundle ------------------------------------------------------------------


def test_result_of_a_good_bundle(tmp_path: Path) -> None:
    parts = make_parts()
    path = parts.write(tmp_path / "b.tar")
    progress = Progress()
    res = verify_bundle(path, progress=progress)  # type: ignore[arg-type]
    total = sum(len(d) for _, d in parts.members)
    assert res.path == path
    assert res.bytes_hashed == total
    assert [t.description for t in progress.tasks] == ["verify"]
    task = progress.tasks[0]
    assert (task.total, task.advanced, task.finished) == (total, total, True)
    assert res.load_manifest == tuple(manifest(parts))
    assert [ti.name for ti in res.installer.members] == [
        "harbor",
        *(n for n, _, _ in INSTALLER_FILES),
    ]
    assert res.installer.files_size == sum(len(d) for _, d, _ in INSTALLER_FILES)
    assert res.installer.unpacked_size == len(__import__("gzip").decompress(parts.get(INST)))
    assert (res.signed_by, res.signature_checked, res.parts) == (None, False, ())
    offsets = [(m.name, m.size) for m in res.members.values()]
    assert offsets == [*((n, len(d)) for n, d in parts.members), (SUMS_NAME, len(sums_of(parts)))]
    with tarfile.open(path) as tf:
        for ti in tf:
            assert res.members[ti.name].offset == ti.offset_data


def test_empty_member_is_hashed(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members.append(("files/empty", b""))
    parts.edit_metadata(lambda m: m.update(files=[file_record("empty", b"")]))
    path = parts.write(tmp_path / "b.tar")
    assert verify_bundle(path).members["files/empty"].size == 0


def split(tmp_path: Path) -> list[Path]:
    """The good bundle in two parts of 8 KiB and the rest (the metadata lies in the second)."""
    from harborkit.bundle.parts import PartWriter
    from harborkit.bundle.tarwrite import OuterTarWriter

    parts = make_parts()
    sink = PartWriter(tmp_path / "b.tar", 8192)
    w = OuterTarWriter(sink, mtime=0)  # type: ignore[arg-type]
    for name, data in [*parts.members, (SUMS_NAME, sums_of(parts))]:
        w.add_bytes(name, data, sha(data))
    w.close()
    return sink.commit()


def test_parts_are_named_in_the_result(tmp_path: Path) -> None:
    written = split(tmp_path)
    res = verify_bundle(written[0])
    assert res.parts == tuple(written)
    assert [p.name for p in written] == ["b.tar.part-000", "b.tar.part-001"]


def test_damaged_part_and_the_member_in_it_are_named(tmp_path: Path) -> None:
    written = split(tmp_path)
    meta = verify_bundle(written[0]).members[METADATA_NAME]
    raw = bytearray(written[1].read_bytes())
    raw[meta.offset - 8192 + 100] ^= 1
    written[1].write_bytes(bytes(raw))
    corrupt(
        written[0],
        f"bundle {written[0]} is corrupt: damaged part b.tar.part-001 (its sha256 differs from "
        f"b.tar.parts.sha256); altered member {METADATA_NAME} (in b.tar.part-001)",
    )


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_verify_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Not even from the thread that imports the schema checker while hashing."""
    import threading

    path = make_parts().write(tmp_path / "b.tar")
    verify_bundle(path)
    for t in threading.enumerate():
        if t is not threading.current_thread() and t.daemon:
            t.join(5)
    assert capfd.readouterr() == ("", "")


# --- members against SHA256SUMS ------------------------------------------------------


def test_blob_altered_and_misnamed_is_named_once(tmp_path: Path) -> None:
    good = make_parts()
    parts = make_parts()
    blob = next(n for n, _ in parts.members if n.startswith("images/blobs/"))
    parts.put(blob, b"other bytes")
    path = parts.write(tmp_path / "b.tar", sums_from=good)
    corrupt(path, f"bundle {path} is corrupt: altered member {blob}")


def test_misnamed_blob_only(tmp_path: Path) -> None:
    parts = make_parts()
    blob = next(n for n, _ in parts.members if n.startswith("images/blobs/"))
    parts.put(blob, b"other bytes")
    path = parts.write(tmp_path / "b.tar")
    corrupt(path, f"bundle {path} is corrupt: altered member {blob}")


def test_altered_installer_and_manifest_are_sorted(tmp_path: Path) -> None:
    good = make_parts()
    parts = make_parts(tgz([*INSTALLER_FILES, ("harbor/x", b"x", 0o644)]))
    parts.put(METADATA_NAME, good.get(METADATA_NAME))
    parts.put(IMAGES_MANIFEST, good.get(IMAGES_MANIFEST) + b" ")
    path = parts.write(tmp_path / "b.tar", sums_from=good)
    corrupt(path, f"bundle {path} is corrupt: altered member {IMAGES_MANIFEST}, {INST}")


@pytest.mark.parametrize(
    ("count", "tail"),
    [(6, "x0, x1, x2, x3, x4, x5"), (7, "x0, x1, x2, x3, x4, x5 and 1 more")],
)
def test_six_names_then_a_count(count: int, tail: str) -> None:
    assert _names("extra member", [f"x{i}" for i in range(count)]) == f"extra member {tail}"


def test_member_problems_leave_out_the_truncated_member_and_sums() -> None:
    from harborkit.bundle.tarsafe import Member

    members = {n: Member(n, 0, 1) for n in ("a", "cut", SUMS_NAME, SIGNATURE_NAME, "new")}
    sums = {"a": "1" * 64, "cut": "2" * 64, "gone": "3" * 64, "lost": "4" * 64}
    got = _member_problems({"a": "0" * 64}, members, sums, "cut")
    assert got == ["altered member a", "missing member gone, lost", "extra member new"]
    assert _member_problems({"a": "1" * 64}, {"a": members["a"]}, {"a": "1" * 64}, None) == []
    # a member truncated before its name was in SHA256SUMS: not also missing
    assert _member_problems({}, {}, {"cut": "2" * 64}, "cut") == []


# --- SHA256SUMS and the tar itself ----------------------------------------------------


def test_sums_line_errors(tmp_path: Path) -> None:
    parts = make_parts()
    parts.sums = b"not a sums line\n"
    path = parts.write(tmp_path / "a.tar")
    corrupt(path, f"bundle {path} is corrupt: {SUMS_NAME} line 1 is not '<sha256>  <name>'")
    parts.sums = format_sums([("a", "0" * 64), ("a", "1" * 64)])
    path = parts.write(tmp_path / "b.tar")
    corrupt(path, f"bundle {path} is corrupt: {SUMS_NAME} line 2 repeats a")


def test_no_sums_member(tmp_path: Path) -> None:
    path = write(tmp_path / "b.tar", make_parts().members)
    corrupt(path, f"bundle {path} is corrupt: missing member {SUMS_NAME}")


def test_cut_inside_a_member_or_inside_sums(tmp_path: Path) -> None:
    parts = make_parts()
    whole = parts.write(tmp_path / "whole.tar")
    raw = whole.read_bytes()
    res = verify_bundle(whole)
    inst = res.members[INST]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(raw[: inst.offset + inst.size - 1])
    corrupt(cut, f"bundle {cut} is corrupt: truncated member {INST}")
    sums = res.members[SUMS_NAME]
    for end in (sums.end - 1, sums.offset + 1):
        cut.write_bytes(raw[:end])
        corrupt(cut, f"bundle {cut} is corrupt: truncated member {SUMS_NAME}")
    # the data is all there, but the file ends inside the padding after it
    cut.write_bytes(raw[: sums.end])
    corrupt(cut, f"bundle {cut} is corrupt: truncated member (header after {SUMS_NAME})")


def test_cut_inside_a_header(tmp_path: Path) -> None:
    parts = make_parts()
    whole = parts.write(tmp_path / "whole.tar")
    res = verify_bundle(whole)
    meta = res.members[METADATA_NAME]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[: meta.offset - 512 + 100])
    corrupt(cut, f"bundle {cut} is corrupt: unreadable tar header after member {IMAGES_MANIFEST}")


def test_damaged_header(tmp_path: Path) -> None:
    parts = make_parts()
    whole = parts.write(tmp_path / "whole.tar")
    res = verify_bundle(whole)
    raw = bytearray(whole.read_bytes())
    raw[res.members[METADATA_NAME].offset - 512 + 3] ^= 0x20
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(raw))
    corrupt(bad, f"bundle {bad} is corrupt: unreadable tar header after member {IMAGES_MANIFEST}")


def test_missing_metadata(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members = [(n, d) for n, d in parts.members if n != METADATA_NAME]
    path = parts.write(tmp_path / "b.tar")
    corrupt(path, f"bundle {path} is corrupt: missing member {METADATA_NAME}")


def test_missing_load_manifest(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members = [(n, d) for n, d in parts.members if n != IMAGES_MANIFEST]
    path = parts.write(tmp_path / "b.tar")
    corrupt(path, f"bundle {path} is corrupt: missing member {IMAGES_MANIFEST}")


def test_invalid_sbom(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members.append((SBOM_NAME, b"{"))
    path = parts.write(tmp_path / "b.tar")
    with pytest.raises(SbomInvalid) as e:
        verify_bundle(path)
    assert e.value.message.startswith(f"{path}: {SBOM_NAME} is not valid JSON: ")


# --- signatures -----------------------------------------------------------------------


def signed(tmp_path: Path, key: sign.SecretKey, *, sig_first: bool = False) -> Path:
    parts = make_parts()
    sums = sums_of(parts)
    sig = sign.sign(key, sums, SUMS_NAME)
    tail = [(SIGNATURE_NAME, sig), (SUMS_NAME, sums)]
    return write(tmp_path / "s.tar", [*parts.members, *(tail if sig_first else tail[::-1])])


def test_signature_checked_with_the_key(tmp_path: Path) -> None:
    key = sign.generate()
    path = signed(tmp_path, key)
    res = verify_bundle(path, key=key.public)
    assert (res.signed_by, res.signature_checked) == (key.public.id_hex, True)
    res = verify_bundle(path)
    assert (res.signed_by, res.signature_checked) == (key.public.id_hex, False)
    other = sign.generate().public
    with pytest.raises(SignatureError) as e:
        verify_bundle(path, key=other)
    assert e.value.message == (
        f"bundle {path}: {SIGNATURE_NAME} is signed by key {key.public.id_hex}, "
        f"not by the given key {other.id_hex}"
    )


def test_unsigned_bundle_with_a_key(tmp_path: Path) -> None:
    key = sign.generate().public
    path = make_parts().write(tmp_path / "b.tar")
    with pytest.raises(SignatureError) as e:
        verify_bundle(path, key=key)
    assert e.value.message == (
        f"bundle {path} is not signed (no {SIGNATURE_NAME}); "
        f"it cannot be checked against key {key.id_hex}"
    )
    assert e.value.exit_code == ExitCode.SIGNATURE


def test_signature_before_sums(tmp_path: Path) -> None:
    path = signed(tmp_path, sign.generate(), sig_first=True)
    corrupt(path, f"bundle {path} is corrupt: {SIGNATURE_NAME} comes before {SUMS_NAME}")


def test_unreadable_signature_without_a_key(tmp_path: Path) -> None:
    parts = make_parts()
    path = write(
        tmp_path / "b.tar", [*parts.members, (SUMS_NAME, sums_of(parts)), (SIGNATURE_NAME, b"junk")]
    )
    assert verify_bundle(path).signed_by == "(unreadable)"


# --- the metadata against the members -------------------------------------------------


def inconsistent(tmp_path: Path, edit: Callable[[dict], object], *problems: str) -> None:
    parts = make_parts()
    parts.edit_metadata(edit)
    path = parts.write(tmp_path / "b.tar")
    corrupt(path, f"bundle {path} is inconsistent with {METADATA_NAME}: " + "; ".join(problems))


def test_only_four_problems_are_named(tmp_path: Path) -> None:
    ghosts = ["sha256:" + c * 64 for c in "abcde"]
    layer = json.loads(make_parts().get(METADATA_NAME))["layers"][0]
    inconsistent(
        tmp_path,
        lambda m: m["layers"].extend({**layer, "digest": g} for g in ghosts),
        *(f"layer {g} is not in the bundle" for g in ghosts[:4]),
    )


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("goharbor/Bad:v1", "is not an image reference (a malformed repository name)"),
        ("goharbor/x@sha256:" + "a" * 64, "is not a tag (repository:tag)"),
        ("goharbor/x:v1 ", "is not a tag (repository:tag)"),
    ],
)
def test_reference_must_be_a_tag(tmp_path: Path, reference: str, why: str) -> None:
    parts = make_parts()
    parts.edit_metadata(lambda m: m["images"][1].update(reference=reference))
    path = parts.write(tmp_path / "b.tar")
    with pytest.raises(Exception) as e:
        verify_bundle(path)
    assert e.value.message == (  # type: ignore[attr-defined]
        f"bundle {path} is inconsistent with {METADATA_NAME}: reference {reference!r} {why}"
    )


def test_installer_name_that_is_no_gzip_tar(tmp_path: Path) -> None:
    inconsistent(
        tmp_path,
        lambda m: m["installer"].update(name="x.zip"),
        "installer name 'x.zip' is not a gzip tar (.tgz or .tar.gz)",
    )


def test_installer_sha256_differs(tmp_path: Path) -> None:
    inconsistent(
        tmp_path,
        lambda m: m["installer"].update(sha256="0" * 64),
        f"installer {INST} sha256 differs from the metadata",
    )


def test_files_must_be_members_with_their_sha256(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members.append(("files/tool", b"tool\n"))
    parts.edit_metadata(
        lambda m: m.update(
            files=[
                file_record("tool", b"tool\n"),
                file_record("gone", b"x"),
                file_record("tool2", b"y"),
            ]
        )
    )
    parts.members.append(("files/tool2", b"z"))
    path = parts.write(tmp_path / "b.tar")
    corrupt(
        path,
        f"bundle {path} is inconsistent with {METADATA_NAME}: "
        "file files/gone is not in the bundle; file files/tool2 sha256 differs from the metadata",
    )
    parts.edit_metadata(lambda m: m.update(files=[file_record("tool", b"tool\n")]))
    parts.members = [(n, d) for n, d in parts.members if n != "files/tool2"]
    assert verify_bundle(parts.write(tmp_path / "c.tar")).metadata.files[0].member == "files/tool"


def test_delta_leaves_layers_to_its_base(tmp_path: Path) -> None:
    parts = make_parts()
    base = delta(parts)
    res = verify_bundle(parts.write(tmp_path / "d.tar"))
    assert res.metadata.base is not None
    assert res.metadata.base.layers == (base,)
    assert "images/blobs/sha256/" + base[7:] not in res.members


def test_delta_layer_not_in_its_base_is_missing(tmp_path: Path) -> None:
    parts = make_parts()
    base = delta(parts)
    parts.edit_metadata(lambda m: m["base"].update(layers=["sha256:" + "2" * 64]))
    path = parts.write(tmp_path / "d.tar")
    corrupt(
        path,
        f"bundle {path} is inconsistent with {METADATA_NAME}: layer {base} is not in the bundle",
    )


# --- images/manifest.json against the metadata ---------------------------------------


def with_manifest(tmp_path: Path, doc: Any) -> Path:
    parts = make_parts()
    parts.put(IMAGES_MANIFEST, doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    return parts.write(tmp_path / "m.tar")


def edited(edit: Callable[[list[dict[str, Any]]], object]) -> list[dict[str, Any]]:
    doc = manifest(make_parts())
    edit(doc)
    return doc


def test_manifest_not_json(tmp_path: Path) -> None:
    path = with_manifest(tmp_path, b"[{")
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(path)
    assert e.value.message.startswith(f"bundle {path}: {IMAGES_MANIFEST} is not valid JSON: ")
    path = with_manifest(tmp_path, b"\xff")
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(path)
    assert e.value.message.startswith(f"bundle {path}: {IMAGES_MANIFEST} is not valid JSON: ")


@pytest.mark.parametrize(
    "doc",
    [
        {"Config": "x"},
        ["x"],
        [{"Config": 1, "RepoTags": [], "Layers": []}],
        [{"Config": "c", "RepoTags": "t", "Layers": []}],
        [{"Config": "c", "RepoTags": [], "Layers": "l"}],
        [{"Config": "c", "RepoTags": [1], "Layers": []}],
        [{"Config": "c", "RepoTags": [], "Layers": [None]}],
        [{"RepoTags": [], "Layers": []}],
    ],
    ids=["object", "string", "config", "tags", "layers", "tag", "layer", "no-config"],
)
def test_manifest_not_a_docker_load_manifest(tmp_path: Path, doc: Any) -> None:
    path = with_manifest(tmp_path, doc)
    corrupt(
        path,
        f"bundle {path}: {IMAGES_MANIFEST} is not a docker load manifest "
        "(a list of Config/RepoTags/Layers entries)",
    )


def disagrees(path: Path, *problems: str) -> None:
    corrupt(
        path,
        f"bundle {path}: {IMAGES_MANIFEST} disagrees with {METADATA_NAME}: " + "; ".join(problems),
    )


def test_manifest_names_a_path_that_is_no_member(tmp_path: Path) -> None:
    ghost = "blobs/sha256/" + "e" * 64
    path = with_manifest(tmp_path, edited(lambda d: d[0]["Layers"].append(ghost)))
    disagrees(
        path,
        f"names {ghost}, which is not a checksummed member",
        f"gives {CORE} another config or layers than {METADATA_NAME}",
    )


@pytest.mark.parametrize(
    ("rel", "reason"),
    [
        ("../../etc/passwd", "'..' in path"),
        ("/etc/passwd", "absolute path"),
        ("", "empty or NUL in name"),
    ],
)
def test_manifest_path_that_escapes(tmp_path: Path, rel: str, reason: str) -> None:
    path = with_manifest(tmp_path, edited(lambda d: d[1]["Layers"].insert(0, rel)))
    corrupt(path, f"bundle {path}: {IMAGES_MANIFEST}: unsafe path {rel!r}: {reason}", BundleHostile)


def test_manifest_retags_undeclared_images(tmp_path: Path) -> None:
    path = with_manifest(tmp_path, edited(lambda d: d[0]["RepoTags"].extend(["a/b:1", "c/d:2"])))
    corrupt(
        path,
        f"bundle {path}: {IMAGES_MANIFEST} tags a/b:1, c/d:2, which {METADATA_NAME} does not "
        "declare (loading it would retag images on the target)",
        BundleHostile,
    )


def test_manifest_drops_and_repeats_tags(tmp_path: Path) -> None:
    path = with_manifest(tmp_path, edited(lambda d: d.pop(1)))
    disagrees(path, f"does not tag {DB}")
    path = with_manifest(tmp_path, edited(lambda d: d.append(dict(d[0]))))
    disagrees(path, f"tags {CORE} more than once")
    path = with_manifest(tmp_path, edited(lambda d: d.clear()))
    disagrees(path, f"does not tag {CORE}, {DB}")


def test_manifest_gives_a_tag_another_config_or_layers(tmp_path: Path) -> None:
    path = with_manifest(tmp_path, edited(lambda d: d[1].update(Config=d[0]["Config"])))
    disagrees(path, f"gives {DB} another config or layers than {METADATA_NAME}")
    path = with_manifest(tmp_path, edited(lambda d: d[1].update(Layers=d[1]["Layers"][::-1])))
    disagrees(path, f"gives {DB} another config or layers than {METADATA_NAME}")


def test_manifest_problems_are_cut_at_four(tmp_path: Path) -> None:
    ghosts = ["blobs/sha256/" + c * 64 for c in "abcde"]
    path = with_manifest(tmp_path, edited(lambda d: d[1]["Layers"].extend(ghosts)))
    disagrees(path, *(f"names {g}, which is not a checksummed member" for g in ghosts[:4]))


def test_delta_manifest_names_base_layers(tmp_path: Path) -> None:
    parts = make_parts()
    base = delta(parts)
    doc = manifest(parts)
    doc[0]["Layers"].append("blobs/sha256/" + "f" * 64)
    parts.put(IMAGES_MANIFEST, json.dumps(doc).encode())
    path = parts.write(tmp_path / "d.tar")
    disagrees(
        path,
        f"names blobs/sha256/{'f' * 64}, which is not a checksummed member",
        f"gives {CORE} another config or layers than {METADATA_NAME}",
    )
    assert base  # the base layer itself is not named


def test_truncated_member_names_every_part_it_spans(tmp_path: Path) -> None:
    written = split(tmp_path)
    written[1].write_bytes(written[1].read_bytes()[:60])  # inside images/manifest.json
    corrupt(
        written[0],
        f"bundle {written[0]} is corrupt: damaged part b.tar.part-001 (its sha256 differs from "
        f"b.tar.parts.sha256); truncated member {IMAGES_MANIFEST} "
        "(in b.tar.part-000, b.tar.part-001)",
    )


def test_member_cut_while_hashing(tmp_path: Path) -> None:
    """The file got shorter after its headers were read."""
    from harborkit.bundle.parts import open_bundle_file
    from harborkit.bundle.tarsafe import Member
    from harborkit.bundle.verify import _hash_member

    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    task = Recorded("verify", 100)
    with open_bundle_file(path) as source:
        assert _hash_member(source, Member("m", 2, 8), task) == sha(b"23456789")
        with pytest.raises(BundleCorrupt) as e:
            _hash_member(source, Member("m", 5, 100), task)
    assert e.value.message == f"{path}: member m is truncated"
    assert task.advanced == 8 + 5


def test_duplicate_member_is_hostile(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members.append(("./" + IMAGES_MANIFEST, b"[]"))
    path = parts.write(tmp_path / "b.tar")
    corrupt(
        path,
        f"{path}: duplicate member './{IMAGES_MANIFEST}' (the same path as '{IMAGES_MANIFEST}')",
        BundleHostile,
    )


def test_reference_with_has_in_it(tmp_path: Path) -> None:
    """The parser's reason is the text after the quoted reference, whatever it holds."""
    parts = make_parts()
    parts.edit_metadata(lambda m: m["images"][1].update(reference="goharbor/x has y:v1"))
    path = parts.write(tmp_path / "b.tar")
    corrupt(
        path,
        f"bundle {path} is inconsistent with {METADATA_NAME}: reference 'goharbor/x has y:v1' "
        "is not an image reference (holds whitespace, a control or a non-ASCII character)",
    )
    parts.edit_metadata(lambda m: m["images"][1].update(reference="goharbor/X:v1"))
    path = parts.write(tmp_path / "c.tar")
    corrupt(
        path,
        f"bundle {path} is inconsistent with {METADATA_NAME}: reference 'goharbor/X:v1' "
        "is not an image reference (a malformed repository name)",
    )


def test_each_inconsistency_is_named(tmp_path: Path) -> None:
    parts = make_parts()
    meta = json.loads(parts.get(METADATA_NAME))
    layer = meta["layers"][2]
    inconsistent(
        tmp_path,
        lambda m: (
            m["layers"][2].update(size=layer["size"] + 1),
            m["images"][1].update(image_id="sha256:" + "ef" * 32),
            m["installer"].update(name="other.tgz"),
        ),
        f"layer {layer['digest']} has {layer['size']} bytes, metadata says {layer['size'] + 1}",
        f"config of {DB} (sha256:{'ef' * 32}) is not in the bundle",
        "installer installer/other.tgz is not in the bundle",
    )


def test_delta_base_layer_first_then_a_wrong_size(tmp_path: Path) -> None:
    parts = make_parts()
    delta(parts)
    meta = json.loads(parts.get(METADATA_NAME))
    last = meta["layers"][-1]
    parts.edit_metadata(lambda m: m["layers"][-1].update(size=1))
    path = parts.write(tmp_path / "d.tar")
    corrupt(
        path,
        f"bundle {path} is inconsistent with {METADATA_NAME}: "
        f"layer {last['digest']} has {last['size']} bytes, metadata says 1",
    )


def test_manifest_repeats_two_tags(tmp_path: Path) -> None:
    path = with_manifest(tmp_path, edited(lambda d: d.extend([dict(d[0]), dict(d[1])])))
    disagrees(path, f"tags {CORE}, {DB} more than once")


def test_cut_right_after_sums_still_judges_every_member(tmp_path: Path) -> None:
    good = make_parts()
    parts = make_parts()
    parts.put(IMAGES_MANIFEST, parts.get(IMAGES_MANIFEST) + b" ")
    whole = parts.write(tmp_path / "whole.tar", sums_from=good)
    sums = scan_end(whole)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[:sums])
    corrupt(
        cut,
        f"bundle {cut} is corrupt: truncated member (header after {SUMS_NAME}); "
        f"altered member {IMAGES_MANIFEST}",
    )


def scan_end(path: Path) -> int:
    from harborkit.bundle.tarsafe import scan_tar

    return next(m.end for m in scan_tar(path).members if m.name == SUMS_NAME)


def test_cut_after_sums_in_the_last_part(tmp_path: Path) -> None:
    written = split(tmp_path)
    end = scan_end_parts(written[0])
    written[1].write_bytes(written[1].read_bytes()[: end - 8192])
    corrupt(
        written[0],
        f"bundle {written[0]} is corrupt: damaged part b.tar.part-001 (its sha256 differs from "
        f"b.tar.parts.sha256); truncated member (header after {SUMS_NAME}) (in b.tar.part-001)",
    )


def scan_end_parts(first: Path) -> int:
    return verify_bundle(first).members[SUMS_NAME].end


def test_member_after_sums_cut_short_is_only_truncated(tmp_path: Path) -> None:
    """SHA256SUMS need not be last: a member after it that is cut short is named once,
    as truncated, not also as extra."""
    parts = make_parts()
    whole = write(
        tmp_path / "w.tar", [*parts.members, (SUMS_NAME, sums_of(parts)), ("notes.txt", b"n" * 900)]
    )
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[: info(whole, "notes.txt").offset_data + 100])
    corrupt(cut, f"bundle {cut} is corrupt: truncated member notes.txt")


def test_member_ending_at_the_end_of_the_file_is_hashed(tmp_path: Path) -> None:
    parts = make_parts()
    parts.members.append(("notes.txt", b"n" * 512))
    sums = sums_of(parts)
    parts.put("notes.txt", b"N" * 512)  # altered after SHA256SUMS was written
    members = [m for m in parts.members if m[0] != "notes.txt"]
    whole = write(tmp_path / "w.tar", [*members, (SUMS_NAME, sums), ("notes.txt", b"N" * 512)])
    notes = info(whole, "notes.txt")
    size = notes.offset_data + notes.size
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[:size])
    # no end-of-archive blocks, but every member whole: only the altered one is named
    corrupt(cut, f"bundle {cut} is corrupt: altered member notes.txt")


def test_bad_metadata_is_named_with_the_bundle(tmp_path: Path) -> None:
    from harborkit.bundle.errors import MetadataError

    parts = make_parts()
    parts.put(METADATA_NAME, b"{not json")
    path = parts.write(tmp_path / "b.tar")
    with pytest.raises(MetadataError) as e:
        verify_bundle(path)
    assert e.value.message.startswith(f"{path}: {METADATA_NAME} is not valid JSON: ")


def test_bad_installer_is_named_with_the_bundle(tmp_path: Path) -> None:
    path = make_parts(b"plain text, not gzip").write(tmp_path / "b.tar")
    with pytest.raises(BundleCorrupt) as e:
        verify_bundle(path)
    assert e.value.message.startswith(f"{path}: {INST} is not a complete gzip stream: ")


def test_installer_bomb_is_judged_by_its_stored_size(tmp_path: Path) -> None:
    import zlib

    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    bomb = b"".join([*(c.compress(bytes(1 << 20)) for _ in range(70)), c.flush()])
    path = make_parts(bomb).write(tmp_path / "b.tar")
    corrupt(
        path,
        f"{path}: {INST} unpacks to more than 67 MB (over 50 times its size)",
        BundleHostile,
    )


def info(path: Path, name: str) -> tarfile.TarInfo:
    with tarfile.open(path) as tf:
        return tf.getmember(name)


@pytest.mark.parametrize("outcome", ["intact", "altered member", "bad metadata", "interrupted"])
def test_hashing_takes_the_gil_back_quickly_and_gives_the_setting_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    """While members are hashed (the documents checked beside them in pure Python), a
    hashing thread waits at most ``GIL_SWITCH`` for the GIL after each buffer, not
    Python's 5 ms; the process's own setting is given back however verify ends."""
    import sys

    from harborkit.bundle import verify as verify_mod
    from harborkit.bundle.errors import MetadataError

    parts = make_parts()
    if outcome == "altered member":
        parts.put(INST, tgz([("harbor/other.txt", b"x", 0o644)]))
    if outcome == "bad metadata":
        parts.put(METADATA_NAME, b"{not json")
    stale = make_parts() if outcome == "altered member" else None
    path = parts.write(tmp_path / "b.tar", sums_from=stale)
    seen: list[float] = []
    real = verify_mod._hash_member

    def hash_member(*args: Any) -> str:
        seen.append(sys.getswitchinterval())
        if outcome == "interrupted":
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(verify_mod, "_hash_member", hash_member)
    before = sys.getswitchinterval()
    raised: type[BaseException] = {
        "intact": type(None),
        "altered member": BundleCorrupt,
        "bad metadata": MetadataError,
        "interrupted": KeyboardInterrupt,
    }[outcome]
    try:
        verify_bundle(path)
    except BaseException as e:
        assert type(e) is raised, e
    else:
        assert raised is type(None)
    assert seen and set(seen) == {verify_mod.GIL_SWITCH} and before > verify_mod.GIL_SWITCH
    assert sys.getswitchinterval() == before
