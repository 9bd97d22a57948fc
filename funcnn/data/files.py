"""The four MNIST files: their names, shapes and SHA-256 digests, where a directory holds
them, and the check that downloaded bytes are a genuine copy.

:mod:`funcnn.data.download` fetches them and :mod:`funcnn.data.mnist` finds and loads
them; both take the table from here.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from funcnn.data.gz import gunzip
from funcnn.errors import DataFormatError

__all__ = ["MNIST_FILES", "MnistFile", "file_in", "verify_gz"]


@dataclass(frozen=True)
class MnistFile:
    """One of the four MNIST files and the checksums that identify it.

    ``sha256`` is the digest of the uncompressed IDX content (which any correct copy has,
    however it was compressed); ``gz_sha256`` holds the digests of the known ``.gz``
    encodings: the original files the mirrors serve and the copy vendored here.
    """

    name: str
    """File name as the mirrors serve it, e.g. ``"train-images-idx3-ubyte.gz"``."""
    shape: tuple[int, ...]
    """Array shape: ``(N, 28, 28)`` for images, ``(N,)`` for labels."""
    sha256: str
    gz_sha256: frozenset[str]

    @property
    def stem(self) -> str:
        """The uncompressed file's name, e.g. ``"train-images-idx3-ubyte"``."""
        return self.name.removesuffix(".gz")

    @property
    def nbytes(self) -> int:
        """Size of the uncompressed IDX file in bytes."""
        return 4 + 4 * len(self.shape) + math.prod(self.shape)


MNIST_FILES: tuple[MnistFile, MnistFile, MnistFile, MnistFile] = (
    MnistFile(
        "train-images-idx3-ubyte.gz",
        (60000, 28, 28),
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        frozenset(
            {
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19",
            }
        ),
    ),
    MnistFile(
        "train-labels-idx1-ubyte.gz",
        (60000,),
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        frozenset(
            {
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a",
            }
        ),
    ),
    MnistFile(
        "t10k-images-idx3-ubyte.gz",
        (10000, 28, 28),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        frozenset(
            {
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209",
            }
        ),
    ),
    MnistFile(
        "t10k-labels-idx1-ubyte.gz",
        (10000,),
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        frozenset(
            {
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920",
            }
        ),
    ),
)
"""Train images, train labels, test images, test labels, with their SHA-256 digests."""


def file_in(directory: Path, f: MnistFile) -> Path | None:
    """``directory/NAME.gz`` or ``directory/NAME`` (uncompressed), whichever exists first."""
    for candidate in (directory / f.name, directory / f.stem):
        if candidate.is_file():
            return candidate
    return None


def verify_gz(data: bytes | bytearray, f: MnistFile, source: str) -> None:
    """Raise ``DataFormatError`` unless ``data`` is a verified gzip copy of ``f``.

    Accepted: a known ``.gz`` SHA-256, or gzip data whose content has the canonical
    SHA-256 (a mirror that recompressed the file).
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest in f.gz_sha256:
        return
    known = ", ".join(sorted(f.gz_sha256))
    problem = (
        f"{source}: failed verification: the {len(data)} bytes received have SHA-256 "
        f"{digest}, which is none of the known copies of {f.name} ({known})"
    )
    try:
        content = gunzip(data, source=source, max_size=f.nbytes)
    except DataFormatError as exc:
        why = str(exc).removeprefix(f"{source}: ")
        raise DataFormatError(f"{problem}, and they are not valid gzip data ({why})") from exc
    content_digest = hashlib.sha256(content).hexdigest()
    if content_digest != f.sha256:
        raise DataFormatError(
            f"{problem}, and they decompress to {len(content)} bytes with SHA-256 "
            f"{content_digest}, not the {f.nbytes} bytes with SHA-256 {f.sha256} of "
            f"{f.stem}: the file is corrupt or truncated"
        )
