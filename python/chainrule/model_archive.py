"""The model file as an archive: its format constants, and checked reading of its members and
of its JSON header (sizes, dtypes and shapes are checked before anything is allocated). What
the header's entries mean - building the network - is :mod:`chainrule.serialization`'s."""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from typing import IO, Any, Dict, Optional, Tuple, Union, cast

import numpy as np

__all__ = [
    "FORMAT",
    "VERSION",
    "MAX_PARAMETERS",
    "Reader",
    "expect",
    "is_int",
    "valid_params",
    "parse_header",
    "refuse_directory",
]

FORMAT = "chainrule.network"
#: 3: the architecture is a list of layers (kind, parameters, activation), with buffers
#: (running statistics) beside the parameters; versions 1 and 2 (dense layers from
#: ``layer_sizes`` and ``activations``) load as before. A network of dense layers without
#: penalties is still written as version 2, which older releases read.
#: 2: the optimizer's state arrays are named by parameter (``state.opt.exp_avg.W1``); version 1
#: files (``state.opt.exp_avg.0``, by slot) load as before.
VERSION = 3
#: Networks larger than this (about 16 GB of float64) are refused on load.
MAX_PARAMETERS = 2_000_000_000
_DEFLATE_MAX_RATIO = 1100  # deflate cannot expand data more than ~1032x
#: The header has no architecture to bound its size: any file may have one of up to
#: _MAX_HEADER_BYTES, and a larger one (a long training's history, diagnostics records) only
#: as far as the file holds it: stored, as save writes it, or deflated at most
#: _HEADER_MAX_RATIO:1 (a history's JSON deflates about 3:1, histograms' about 17:1). So a small
#: file cannot make load inflate and parse a huge header (parsing takes some tens of bytes of
#: memory per byte of JSON). Earlier readers refuse any header past 64 MiB; the layout is
#: unchanged, so such files keep their format version.
_MAX_HEADER_BYTES = 64 << 20
_HEADER_MAX_RATIO = 32

PathLike = Union[str, "os.PathLike[str]"]


class Reader:
    """Checked access to the members of a model archive."""

    def __init__(self, source: Union[PathLike, bytes], what: str) -> None:
        self.what = what
        try:
            self.zf = zipfile.ZipFile(
                io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
            )
        except FileNotFoundError:
            raise
        except (
            zipfile.BadZipFile,
            OSError,
            ValueError,
            EOFError,
            NotImplementedError,
            RuntimeError,
        ) as exc:
            raise ValueError(
                f"{what} is not a chainrule model file (not a valid .npz archive: {exc})"
            ) from None
        self.members = {i.filename: i for i in self.zf.infolist()}
        # the archive's size bounds what a member really holds, whatever its entry claims
        if isinstance(source, bytes):
            self.size = len(source)
        else:  # the file opened (not whatever the path names by now)
            self.size = os.fstat(cast(IO[bytes], self.zf.fp).fileno()).st_size

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.what}: {message}")

    def array(
        self, name: str, dtype: np.dtype, shape: Tuple[int, ...], max_count: Optional[int] = None
    ) -> np.ndarray:
        """Member ``name``.npy, which must hold exactly dtype and shape (shape -1 entries take
        any size up to max_count elements)."""
        info = self.members.get(f"{name}.npy")
        if info is None:
            raise self.fail(f"the array '{name}' is missing")
        limit = (max_count if max_count is not None else int(np.prod(shape))) * dtype.itemsize
        if info.file_size > limit + 65536:
            raise self.fail(
                f"the array '{name}' takes {info.file_size} bytes, more than its shape allows"
            )
        if (
            info.compress_type != zipfile.ZIP_STORED
            and info.file_size > _DEFLATE_MAX_RATIO * max(info.compress_size, 1) + 65536
        ):
            raise self.fail(f"the array '{name}' claims an impossible compression ratio")
        try:
            with self.zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise self.fail(f"the array '{name}' has an unknown .npy version {version}")
                if got_dtype != dtype or fortran:
                    raise self.fail(
                        f"the array '{name}' has dtype {got_dtype}"
                        f"{' (Fortran order)' if fortran else ''}, expected {dtype}"
                    )
                want = tuple(g if s == -1 else s for s, g in zip(shape, got_shape))
                if len(got_shape) != len(shape) or tuple(got_shape) != want:
                    raise self.fail(
                        f"the array '{name}' has shape {tuple(got_shape)}, "
                        f"expected {tuple('any' if s == -1 else s for s in shape)}"
                    )
                count = int(np.prod(got_shape))
                if max_count is not None and count > max_count:
                    raise self.fail(
                        f"the array '{name}' has {count} elements, more than {max_count}"
                    )
                data = f.read(count * dtype.itemsize)
                if len(data) != count * dtype.itemsize:
                    raise self.fail(f"the array '{name}' is truncated")
                if f.read(1):
                    raise self.fail(f"the array '{name}' has trailing data")
        except ValueError as exc:
            if str(exc).startswith(self.what):
                raise
            raise self.fail(f"the array '{name}' is corrupted ({exc})") from None
        except (
            zipfile.BadZipFile,
            OSError,
            EOFError,
            zlib.error,
            NotImplementedError,
            RuntimeError,
        ) as exc:  # a damaged archive (CRC, compression method, ...)
            raise self.fail(f"the array '{name}' is corrupted ({exc})") from None
        return np.frombuffer(data, dtype=dtype).reshape(got_shape).copy()


def expect(cond: bool, reader: Reader, message: str) -> None:
    if not cond:
        raise reader.fail(message)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def valid_params(params: Any, numbers_only: bool) -> bool:
    """A dict of parameters by name: numbers for the built-ins; JSON scalars and lists of them
    for user classes (what :func:`_json_value` writes)."""

    def ok(v: Any, depth: int = 0) -> bool:
        if isinstance(v, bool):
            return not numbers_only
        if isinstance(v, (int, float)):
            return True
        if numbers_only:
            return False
        if v is None or isinstance(v, str):
            return True
        return isinstance(v, list) and depth < 8 and all(ok(x, depth + 1) for x in v)

    return isinstance(params, dict) and all(isinstance(k, str) and ok(v) for k, v in params.items())


def refuse_directory(path: str, who: str) -> None:
    """IsADirectoryError when a model file's ``path`` is a directory, which no file can
    replace (``who`` leads the message: ``"save:"``, ``"ModelCheckpoint: path"``)."""
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"{who} {path!r} is a directory: name a file, such as "
            f"{os.path.join(path, 'model.npz')!r}"
        )


def _header_limit(reader: Reader) -> int:
    """The most bytes the header member may take (see _MAX_HEADER_BYTES); ValueError saying
    why when it claims more."""
    info = reader.members.get("header.npy")
    if info is None:
        return _MAX_HEADER_BYTES  # reader.array says it is missing
    held = min(info.compress_size, reader.size)
    stored = info.compress_type == zipfile.ZIP_STORED
    limit = max(_MAX_HEADER_BYTES, held if stored else _HEADER_MAX_RATIO * held)
    if info.file_size > limit:
        mib = _MAX_HEADER_BYTES >> 20
        raise reader.fail(
            f"the header claims {info.file_size} bytes, more than the {held} the file holds"
            if stored
            else f"the header inflates from {held} to {info.file_size} bytes: a header over "
            f"{mib} MiB may be compressed at most {_HEADER_MAX_RATIO}:1 (save stores it "
            "uncompressed)"
        )
    return limit


def parse_header(reader: Reader) -> Dict[str, Any]:
    limit = _header_limit(reader)
    raw = reader.array("header", np.dtype(np.uint8), (-1,), max_count=limit)
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON, an int of more than 4300 digits
        raise reader.fail(f"the header is not valid JSON ({exc})") from None
    except RecursionError:
        raise reader.fail("the header is not valid JSON (it nests too deeply)") from None
    expect(isinstance(header, dict), reader, "the header is not a JSON object")
    expect(
        header.get("format") == FORMAT,
        reader,
        f"not a chainrule model (format {header.get('format')!r})",
    )
    version = header.get("version")
    expect(is_int(version), reader, f"invalid format version {version!r}")
    expect(
        version <= VERSION,
        reader,
        f"format version {version} is newer than this chainrule reads ({VERSION}); "
        "upgrade chainrule",
    )
    expect(version >= 1, reader, f"invalid format version {version}")
    expect(
        header.get("dtype") in ("float32", "float64"),
        reader,
        f"invalid dtype {header.get('dtype')!r}",
    )
    sizes = header.get("layer_sizes")
    expect(
        isinstance(sizes, list) and len(sizes) >= 2 and all(is_int(s) and s >= 1 for s in sizes),
        reader,
        f"invalid layer_sizes {sizes!r}",
    )
    if version >= 3:
        layers = header.get("layers")
        expect(
            isinstance(layers, list) and len(layers) == len(sizes) - 1,
            reader,
            f"expected {len(sizes) - 1} layers, got {layers!r:.200}",
        )
        for i, e in enumerate(layers):
            expect(
                isinstance(e, dict)
                and isinstance(e.get("kind"), str)
                and valid_params(e.get("params", {}), numbers_only=True),
                reader,
                f"invalid entry for layer {i + 1}: {e!r:.200}",
            )
        acts = [e.get("activation") for e in layers]
    else:  # dense layers: layer_sizes and one activation per layer
        acts = header.get("activations")
        expect(
            isinstance(acts, list) and len(acts) == len(sizes) - 1,
            reader,
            f"expected {len(sizes) - 1} activations, got {acts!r:.200}",
        )
        header["layers"] = [
            {"kind": "dense", "params": {"units": n}, "activation": a}
            for n, a in zip(sizes[1:], acts)
        ]
    for i, a in enumerate(acts):
        expect(
            a is None
            or isinstance(a, dict)
            and isinstance(a.get("name"), str)
            and valid_params(a.get("params", {}), numbers_only=not a.get("custom")),
            reader,
            f"invalid activation entry for layer {i + 1}: {a!r:.200}",
        )
    # at most (n_in + 1) n_out values per layer: W and b of a dense layer; the others keep
    # four vectors (gamma, beta and two running statistics) of n_in <= (n_in + 1) n_out
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    expect(
        n_params <= MAX_PARAMETERS,
        reader,
        f"the header claims {n_params} parameters, more than the limit {MAX_PARAMETERS}",
    )
    loss = header.get("loss")
    expect(
        isinstance(loss, dict)
        and isinstance(loss.get("name"), str)
        and valid_params(loss.get("params", {}), numbers_only=not loss.get("custom")),
        reader,
        f"invalid loss entry {loss!r:.200}",
    )
    names = header.get("feature_names")
    expect(
        names is None
        or isinstance(names, list)
        and len(names) == sizes[0]
        and all(isinstance(n, str) for n in names),
        reader,
        f"invalid feature_names {names!r:.200} for {sizes[0]} input features",
    )
    for key in ("state", "metadata", "state_arrays"):
        expect(isinstance(header.get(key, {}), dict), reader, f"invalid '{key}' entry")
    state_elements = 0
    for k, shape in header.get("state_arrays", {}).items():
        expect(
            isinstance(k, str)
            and isinstance(shape, list)
            and all(is_int(s) and s >= 0 for s in shape),
            reader,
            f"invalid state array entry {k!r}: {shape!r:.100}",
        )
        state_elements += int(np.prod(shape))
    # optimizer state is a few buffers shaped like the parameters
    expect(
        state_elements <= 8 * n_params,
        reader,
        f"the header claims {state_elements} elements of training state for a network of "
        f"{n_params} parameters",
    )
    return header
