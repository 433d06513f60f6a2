"""onyx: a small ONNX runtime in C, with ONNX Runtime's Python API.

    import onyx
    session = onyx.InferenceSession("model.onnx")
    outputs = session.run(None, {"x": x})

InferenceSession, SessionOptions, get_inputs/get_outputs and run behave as onnxruntime's; what onyx
adds is spelled its own way: SessionOptions.set_limit, InferenceSession.profile / nodes /
memory_bytes, onyx.library_version(). Errors are OnyxError and its subclasses. onyx.backend is an
ONNX backend (onnx.backend.base.Backend) for ONNX's backend test runner. docs/PYTHON.md has more.
"""

from . import _onyx
from ._session import (
    LIMITS,
    ExecutionMode,
    FileError,
    GraphOptimizationLevel,
    InferenceSession,
    InvalidArgument,
    InvalidInput,
    InvalidModel,
    InvalidState,
    LimitExceeded,
    ModelMetadata,
    NodeArg,
    NodeInfo,
    OnyxError,
    OutOfMemory,
    ProfileEntry,
    RunError,
    RunOptions,
    SessionOptions,
    Unsupported,
    get_all_providers,
    get_available_providers,
    get_device,
)

__version__ = _onyx.HEADER_VERSION


def library_version():
    """The version of the onyx library linked into the extension ("0.1.0")."""
    return _onyx.version()


def operators():
    """The operator implementations onyx has: a list of (domain, op_type, since_version,
    until_version, source file), one per ONNX schema version."""
    return _onyx.operators()


def gemm_kernel():
    """The float32 matrix-multiply kernel onyx chose for this processor ("avx2 6x16")."""
    return _onyx.gemm_kernel()


__all__ = [
    "LIMITS", "ExecutionMode", "FileError", "GraphOptimizationLevel", "InferenceSession", "InvalidArgument",
    "InvalidInput", "InvalidModel", "InvalidState", "LimitExceeded", "ModelMetadata", "NodeArg", "NodeInfo",
    "OnyxError", "OutOfMemory", "ProfileEntry", "RunError", "RunOptions", "SessionOptions", "Unsupported",
    "get_all_providers", "get_available_providers", "get_device", "gemm_kernel", "library_version",
    "operators",
]
