"""Read the arrays of an SMPL / SMPL-X model pickle without running code from the file.

The official `.pkl` files were written by Python 2 with numpy, scipy and chumpy: a dict of numpy
arrays, a scipy sparse matrix (`J_regressor`) and chumpy `Ch` objects that only wrap an array. A
plain `pickle.load` would run whatever a crafted file names; this unpickler admits only the globals
those files contain, builds sparse matrices and chumpy objects as inert stand-ins, and turns both
into numpy arrays. Anything else is refused with an InputError.
"""

from __future__ import annotations

import codecs
import copyreg
import pickle
from pathlib import Path

import numpy as np

from vidcli.errors import InputError


class _Inert:
    """Stand-in for a pickled object of an admitted class: keeps the state pickle gives it, runs nothing."""

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {}


class _Chumpy(_Inert):
    """A chumpy `Ch`: its value is its `x` array."""

    def to_numpy(self) -> np.ndarray:
        return np.asarray(self.state["x"])


class _Sparse(_Inert):
    """A scipy sparse matrix in compressed (csc / csr) or coordinate form."""

    kind = "csc"

    def to_numpy(self) -> np.ndarray:
        import scipy.sparse

        s = self.state
        shape = tuple(s.get("_shape", s.get("shape")))
        if self.kind == "coo":
            matrix = scipy.sparse.coo_matrix((s["data"], (s["row"], s["col"])), shape=shape)
        else:
            build = scipy.sparse.csc_matrix if self.kind == "csc" else scipy.sparse.csr_matrix
            matrix = build((s["data"], s["indices"], s["indptr"]), shape=shape)
        return matrix.toarray()


def _sparse(kind: str) -> type:
    return type(f"_Sparse_{kind}", (_Sparse,), {"kind": kind})


try:
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1
    from numpy.core.multiarray import _reconstruct, scalar

_NUMPY = {"_reconstruct": _reconstruct, "scalar": scalar, "ndarray": np.ndarray, "dtype": np.dtype}
_ALLOWED = {
    **{(module, name): value for module in ("numpy.core.multiarray", "numpy._core.multiarray", "numpy")
       for name, value in _NUMPY.items()},
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    **{(module, name): value for module in ("__builtin__", "builtins")
       for name, value in (("object", object), ("set", set), ("frozenset", frozenset))},  # chumpy's state
    ("_codecs", "encode"): codecs.encode,  # how Python 3 pickles bytes at protocol 2 (text to bytes)
    ("chumpy.ch", "Ch"): _Chumpy,
    **{(f"scipy.sparse.{module}", f"{kind}_matrix"): _sparse(kind)
       for kind in ("csc", "csr", "coo") for module in (kind, f"_{kind}")},
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a body model file never holds")
        return _ALLOWED[(module, name)]


def load_model_pickle(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a model pickle by key (chumpy and sparse matrices made numpy); InputError otherwise."""
    try:
        with open(path, "rb") as f:
            data = _Unpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError) as error:
        raise InputError(f"{path}: refused as a body model pickle: {error}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: refused as a body model pickle: it holds a {type(data).__name__}, "
                         "not a dict")
    arrays = {}
    for key, value in data.items():
        if isinstance(value, (_Chumpy, _Sparse)):
            try:
                value = value.to_numpy()
            except (KeyError, TypeError, ValueError) as error:
                raise InputError(f"{path}: its {key!r} cannot be read as an array ({error})") from None
        if isinstance(value, _Inert):
            raise InputError(f"{path}: its {key!r} is not an array")
        if isinstance(value, np.ndarray) and value.dtype != object:
            arrays[str(key)] = value
    return arrays
