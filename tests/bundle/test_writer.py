"""The one bundle writer on its own: sinks, member order, clean-up (no daemon, no root)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import BinaryIO

import pytest

from harborkit.bundle import cleanup
from harborkit.bundle.errors import InstallerInvalid, OutputError
from harborkit.bundle.format import ImageRecord, LayerRecord
from harborkit.bundle.installer import InstallerSource
from harborkit.bundle.progress import NullProgress
from harborkit.bundle.verify import verify_bundle
from harborkit.bundle.writer import BundleWriter
from tests.support.bundles import INSTALLER_NAME, installer_tgz


class MemorySink:
    """A sink that is not one file on disk (as a split-parts sink would be)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.committed: bytes | None = None
        self.discarded = False

    def open(self) -> BinaryIO:
        return self.buf

    def fileno(self) -> int | None:
        return None

    def commit(self) -> int:
        self.committed = self.buf.getvalue()
        return len(self.committed)

    def discard(self) -> list[Path]:
        self.discarded = True
        return []


def _installer(tmp_path: Path) -> InstallerSource:
    p = tmp_path / INSTALLER_NAME
    p.write_bytes(installer_tgz())
    return InstallerSource(str(p), INSTALLER_NAME, None)


def _one_image(writer: BundleWriter, tmp_path: Path) -> tuple[list[ImageRecord], list[LayerRecord]]:
    layer = b"\x1f\x8b pretend gzip layer"
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    blob = tmp_path / "layer.gz"
    blob.write_bytes(layer)
    writer.add_blob_file(digest, blob, len(layer))
    config = b'{"rootfs": {"diff_ids": ["sha256:' + b"1" * 64 + b'"]}}'  # the layer's, below
    image_id = "sha256:" + hashlib.sha256(config).hexdigest()
    writer.add_blob(image_id, config)
    writer.add_blob(image_id, config)  # stored once
    return (
        [ImageRecord("goharbor/prepare:v1.8.0", image_id, 10, (digest,))],
        [LayerRecord(digest, "sha256:" + "1" * 64, len(layer), 10)],
    )


def test_any_sink_and_members_after_the_sums(tmp_path: Path) -> None:
    sink = MemorySink()
    with BundleWriter(tmp_path / "b.tar", sink=sink) as w:
        w.add_installer(_installer(tmp_path), NullProgress())
        images, layers = _one_image(w, tmp_path)
        w.add_bytes("sbom.spdx.json", b"{}")
        result = w.finish(
            "v1.8.0",
            images,
            layers,
            after_sums=[lambda sums: ("SHA256SUMS.sig", b"sig:" + sums[:8])],
        )
    assert sink.committed is not None and result.size == len(sink.committed)
    with tarfile.open(fileobj=io.BytesIO(sink.committed)) as tf:
        names = tf.getnames()
    assert names[0] == f"installer/{INSTALLER_NAME}"
    assert names[-5:] == [
        "images/manifest.json",
        "sbom.cdx.json",  # the CycloneDX inventory every bundle carries
        "harbor-bundle.json",
        "SHA256SUMS",
        "SHA256SUMS.sig",
    ]
    assert "sbom.spdx.json" in names
    assert len([n for n in names if n.startswith("images/blobs/")]) == 2
    assert not (tmp_path / "b.tar").exists()  # the sink, not the writer, decides where bytes go


def test_file_sink_writes_what_verify_accepts(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "b.tar") as w:
        w.add_installer(_installer(tmp_path), NullProgress())
        images, layers = _one_image(w, tmp_path)
        w.finish("v1.8.0", images, layers)
    assert sorted(os.listdir(tmp_path)) == sorted([INSTALLER_NAME, "b.tar", "layer.gz"])
    # the layer is no real gzip: verify checks blob names and documents, not layer contents
    assert verify_bundle(tmp_path / "b.tar").metadata.images == tuple(images)


def test_failure_or_interrupt_removes_the_partial_and_records_it(tmp_path: Path) -> None:
    cleanup.reset()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt), BundleWriter(out / "b.tar") as w:
        w.add_installer(_installer(tmp_path), NullProgress())
        raise KeyboardInterrupt
    assert os.listdir(out) == []
    assert cleanup.summary() == f"removed {out}/.b.tar.partial-{os.getpid()}"


def test_installer_refused_before_a_byte_is_written(tmp_path: Path) -> None:
    bad = tmp_path / INSTALLER_NAME
    bad.write_bytes(b"not gzip at all")
    out = tmp_path / "out"
    out.mkdir()
    with (
        pytest.raises(InstallerInvalid, match="is not a complete gzip stream"),
        BundleWriter(out / "b.tar") as w,
    ):
        w.add_installer(InstallerSource(str(bad), INSTALLER_NAME, None), NullProgress())
    assert os.listdir(out) == []


def test_missing_output_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        BundleWriter(tmp_path / "nope" / "b.tar")


def test_a_partial_with_our_own_pid_is_from_an_earlier_process(tmp_path: Path) -> None:
    """pids repeat (containers, reboots): a leftover with this pid is not a live build."""
    old = tmp_path / f".b.tar.partial-{os.getpid()}"
    old.write_bytes(b"left before a reboot")
    with BundleWriter(tmp_path / "b.tar") as w:
        w.add_installer(_installer(tmp_path), NullProgress())
        images, layers = _one_image(w, tmp_path)
        w.finish("v1.8.0", images, layers)
    assert not old.exists()
    assert verify_bundle(tmp_path / "b.tar").metadata.images == tuple(images)


# --- write-behind: the output's pages go to the disk as the build goes ----------------


def _streamed_bundle(
    tmp_path: Path, name: str, blobs: list[bytes], installer: InstallerSource
) -> bytes:
    """A bundle whose blobs are streamed (as the build's compressor writes them), with
    an abort in between (a delta's dropped blob): its bytes."""
    out = tmp_path / name
    with BundleWriter(out, mtime=1) as w:
        w.add_installer(installer, NullProgress())
        images, layers = _one_image(w, tmp_path)
        w.begin_blob()
        w.write(os.urandom(3 << 20))
        w.drop_blob()
        for blob in blobs:
            w.begin_blob()
            for i in range(0, len(blob), 1 << 20):
                w.write(blob[i : i + (1 << 20)])
            w.end_blob("sha256:" + hashlib.sha256(blob).hexdigest(), len(blob))
        w.finish("v1.8.0", images, layers)
    return out.read_bytes()


def _layout(data: bytes) -> list[tuple[str, int, int, bytes]]:
    """Each member's name, place, size and bytes (the SBOM, the metadata and the sums
    carry the build's time: their bytes are left out)."""
    dated = ("sbom.cdx.json", "harbor-bundle.json", "SHA256SUMS")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [
            (
                ti.name,
                ti.offset_data,
                ti.size,
                b"" if ti.name in dated else data[ti.offset_data :][: ti.size],
            )
            for ti in tf
        ]


def test_write_behind_hands_whole_steps_to_the_disk_and_changes_no_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every WRITEBACK_STEP bytes written, sync_file_range(WRITE) is asked for the bytes
    up to one step behind the end, on a MiB boundary (never a page still being written
    or patched), each range once, in order; every member is the same, at the same place,
    as in a bundle written without it."""
    from harborkit.bundle import sinks

    if sinks._start_writeout() is None:
        pytest.skip("no sync_file_range here")
    blobs = [os.urandom((5 << 20) + 123), os.urandom(7 << 20)]
    installer = _installer(tmp_path)
    monkeypatch.setattr(sinks, "WRITEBACK_STEP", 1 << 60)
    plain = _streamed_bundle(tmp_path, "plain.tar", blobs, installer)

    calls: list[tuple[int, int, int]] = []
    real = sinks._start_writeout()

    def record(fd: int, offset: int, length: int, flags: int) -> int:
        calls.append((offset, length, flags))
        return int(real(fd, offset, length, flags))

    monkeypatch.setattr(sinks, "WRITEBACK_STEP", 2 << 20)
    monkeypatch.setattr(sinks, "_WRITEOUT", [record])
    behind = _streamed_bundle(tmp_path, "behind.tar", blobs, installer)
    assert len(behind) == len(plain)
    assert _layout(behind) == _layout(plain)
    assert len(_layout(plain)) == 9
    assert len(calls) >= 4
    ends = [0]
    for offset, length, flags in calls:
        assert (offset, flags) == (ends[-1], 2)  # from where the last one ended
        assert length > 0 and (offset + length) % (1 << 20) == 0
        ends.append(offset + length)
    assert ends[-1] <= len(plain) - (2 << 20)
