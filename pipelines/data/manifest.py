"""The shard manifest: what `preprocess` writes last, and what every shard reader checks first.

Per split it lists each shard with its record count, byte size and sha256, and the manifest carries
a digest of its own content, so that a count edited by hand is caught. `load` checks what costs
nothing at any scale (the JSON, its fields and types, the format, that the split totals are the
sums of the shards' counts, the digest); `check_sizes` stats every shard (one `stat` per shard);
only `damaged` reads the shards' bytes, to name the damaged ones once a reader has met bad data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipelines.errors import UserInputError

FORMAT = "lth-harness/shards/2"
OLDER_FORMATS = ("lth-harness/shards/1",)
MANIFEST = "manifest.json"
RERUN = "re-run `harness data preprocess SRC OUT` into a fresh folder"
_KINDS = {int: "an integer", str: "a string", list: "a list", dict: "an object"}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shard_record(path: Path, examples: int) -> dict:
    """What the manifest keeps of one finished shard file."""
    return {"name": path.name, "examples": examples, "bytes": path.stat().st_size, "sha256": sha256_of(path)}


def _content_digest(manifest: dict) -> str:
    content = {key: value for key, value in manifest.items() if key != "digest"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal(manifest: dict) -> dict:
    """The manifest with the digest of its own content added."""
    return {**manifest, "digest": _content_digest(manifest)}


def load(root: Path) -> dict:
    """The manifest of the shard folder `root`, checked without reading any shard; else UserInputError."""
    path = Path(root) / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"{root} has no {MANIFEST}: it is not a finished `harness data preprocess` "
                             "output") from None
    except OSError as error:
        raise UserInputError(f"cannot read {path}: {error.strerror}") from None
    try:
        manifest = json.loads(data.decode("utf-8"))
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise UserInputError(f"{path} is not valid JSON ({error}): {RERUN}") from None
    _check_fields(manifest, path)
    _check_counts(manifest, path)
    if manifest["digest"] != _content_digest(manifest):
        raise UserInputError(f"{path} was changed after `harness data preprocess` wrote it (its digest does not "
                             f"match its content): {RERUN}")
    return manifest


def _require(value, kind: type, where: str, path: Path):
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UserInputError(f"{path}: {where} should be {_KINDS[kind]}, not {json.dumps(value)[:40]}: {RERUN}")
    return value


def _field(container: dict, key: str, kind: type, where: str, path: Path):
    if key not in container:
        raise UserInputError(f"{path} has no \"{key}\" in {where}: it is not a complete shard manifest; {RERUN}")
    return _require(container[key], kind, f"{where}.{key}" if where != "the manifest" else key, path)


def _check_fields(manifest, path: Path) -> None:
    """Every field a reader uses, with its type; the format first, so an older one says so."""
    top = "the manifest"
    _require(manifest, dict, top, path)
    found = _field(manifest, "format", str, top, path)
    if found in OLDER_FORMATS:
        raise UserInputError(f"{path} is of the older shard format {found}, without per-shard checksums: {RERUN}")
    if found != FORMAT:
        raise UserInputError(f"{path} has format {found!r}, not a shard manifest ({FORMAT}): pass the output of "
                             "`harness data preprocess`, or an ImageNet-layout folder without a manifest.json")
    for key, kind in (("digest", str), ("image_size", int), ("classes", list), ("job", dict), ("splits", dict),
                      ("failed", list)):
        _field(manifest, key, kind, top, path)
    for wnid in manifest["classes"]:
        _require(wnid, str, "every class", path)
    _field(manifest["job"], "source", str, "job", path)
    for name, split in manifest["splits"].items():
        where = f"splits.{name}"
        _require(split, dict, where, path)
        _field(split, "examples", int, where, path)
        for shard in _field(split, "files", list, where, path):
            _require(shard, dict, f"{where}.files[]", path)
            for key, kind in (("name", str), ("examples", int), ("bytes", int), ("sha256", str)):
                _field(shard, key, kind, f"{where}.files[]", path)
            if Path(shard["name"]).name != shard["name"]:
                raise UserInputError(f"{path}: shard name {shard['name']!r} is not a plain file name: {RERUN}")


def _check_counts(manifest: dict, path: Path) -> None:
    for name, split in manifest["splits"].items():
        total = sum(shard["examples"] for shard in split["files"])
        if total != split["examples"]:
            raise UserInputError(f"{path}: the {name} split counts {split['examples']} examples but its shards hold "
                                 f"{total}: {RERUN}")


def check_sizes(root: Path, manifest: dict) -> None:
    """Every shard is there with the size the manifest gives (a truncated or missing shard is named)."""
    for split in manifest["splits"].values():
        for shard in split["files"]:
            problem = _size_problem(Path(root) / shard["name"], shard)
            if problem:
                raise UserInputError(f"shard {Path(root) / shard['name']} {problem}: {RERUN}")


def _size_problem(path: Path, shard: dict) -> str | None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if size != shard["bytes"]:
        return f"has {size} bytes, the manifest says {shard['bytes']}"
    return None


def damaged(root: Path, manifest: dict, splits) -> list[str]:
    """`"<file> (<what is wrong>)"` for each shard of `splits` whose size or sha256 differs from the manifest.

    Reads every byte of those shards: for naming the damage after a reader has met it, not per open.
    """
    found = []
    for name in splits:
        for shard in manifest["splits"].get(name, {}).get("files", []):
            path = Path(root) / shard["name"]
            problem = _size_problem(path, shard) or _checksum_problem(path, shard)
            if problem:
                found.append(f"{path} ({problem})")
    return found


def _checksum_problem(path: Path, shard: dict) -> str | None:
    try:
        same = sha256_of(path) == shard["sha256"]
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    return None if same else "its sha256 differs from the manifest's"
