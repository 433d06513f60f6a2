"""ONNX Runtime's Python API over the C extension (_onyx): InferenceSession, SessionOptions and
the exceptions. The hot path, InferenceSession.run, is the extension's own method: no Python code
runs between the call and the library, except for inputs that need converting."""

import enum
import os
import warnings
from collections import namedtuple

import numpy as np

from . import _onyx

# ---- exceptions ------------------------------------------------------------------------------


class OnyxError(Exception):
    """Base of every error onyx raises. `status` is onyx's status code (onyx.h's onyx_status); the
    message is the library's own, naming the node, operator and tensor concerned."""

    status = 0


class InvalidArgument(OnyxError, ValueError):
    """A wrong argument: an unknown or missing input or output name, a value that is not an array,
    an option out of range (ONYX_ERROR_INVALID_ARGUMENT)."""

    status = 1


class InvalidState(OnyxError, RuntimeError):
    """A call in the wrong state (ONYX_ERROR_INVALID_STATE)."""

    status = 2


class OutOfMemory(OnyxError, MemoryError):
    """An allocation failed (ONYX_ERROR_OUT_OF_MEMORY)."""

    status = 3


class FileError(OnyxError, OSError):
    """A file could not be opened or read (ONYX_ERROR_IO)."""

    status = 4


class InvalidModel(OnyxError, ValueError):
    """The model is malformed: not ONNX, an inconsistent graph, bad tensor data
    (ONYX_ERROR_INVALID_MODEL)."""

    status = 5


class Unsupported(OnyxError, NotImplementedError):
    """Valid ONNX that onyx does not implement: an operator, opset version or data type. The
    message lists every such node (ONYX_ERROR_UNSUPPORTED)."""

    status = 6


class InvalidInput(InvalidArgument):
    """An input array that does not match the model: dtype, rank or shape; the message names the
    input and both (ONYX_ERROR_INVALID_INPUT)."""

    status = 7


class LimitExceeded(OnyxError):
    """A configured limit would be exceeded: model size, tensor elements, memory, graph nodes
    (ONYX_ERROR_LIMIT; see SessionOptions.set_limit)."""

    status = 8


class RunError(OnyxError, RuntimeError):
    """An operator rejected the data it was given while running, such as an index out of range
    (ONYX_ERROR_RUNTIME)."""

    status = 9


_ERRORS = (InvalidArgument, InvalidState, OutOfMemory, FileError, InvalidModel, Unsupported, InvalidInput,
           LimitExceeded, RunError)

# ---- dtypes ----------------------------------------------------------------------------------

# onyx_dtype codes (ONNX's TensorProto.DataType) and their names as ONNX Runtime spells types.
_DTYPE_NAMES = {1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
                8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64",
                14: "complex64", 15: "complex128", 16: "bfloat16", 17: "float8e4m3fn", 18: "float8e4m3fnuz",
                19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4e2m1",
                24: "float8e8m0", 25: "uint2", 26: "int2", 27: "float6e2m3", 28: "float6e3m2"}
_NUMPY = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
          9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64, 14: np.complex64,
          15: np.complex128}
# The types numpy lacks, by the name of ml_dtypes' type for each (what onnx.numpy_helper makes of
# them too). onyx holds them as their bits: bfloat16 in 2 bytes, the others one element per byte
# (the 4-, 2- and 6-bit ones in the low bits, as ml_dtypes does).
_ML_DTYPES = {16: "bfloat16", 17: "float8_e4m3fn", 18: "float8_e4m3fnuz", 19: "float8_e5m2",
              20: "float8_e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4_e2m1fn", 24: "float8_e8m0fnu",
              25: "uint2", 26: "int2", 27: "float6_e2m3fn", 28: "float6_e3m2fn"}
_ML_CODES = {name: code for code, name in _ML_DTYPES.items()}
_BFLOAT16 = 16
# INT4 / INT2 come out of onyx sign-extended to the byte; ml_dtypes' own arrays keep only the
# low bits (and ignore the others when reading): masked so that the bytes are ml_dtypes' too.
_LOW_BITS = {22: 0x0F, 26: 0x03}
# onyx.h's ONYX_SEQUENCE and ONYX_OPTIONAL, or-ed into a dtype for sequences and optionals.
SEQUENCE = 0x100
OPTIONAL = 0x200
_STRING = 8


def _type_name(code):
    """A type as ONNX Runtime spells it: 'tensor(float)', 'seq(tensor(int64))',
    'optional(seq(tensor(float)))'."""
    if code & OPTIONAL:
        return f"optional({_type_name(code & ~OPTIONAL)})"
    if code & SEQUENCE:
        return f"seq({_type_name(code & ~SEQUENCE)})"
    return f"tensor({_DTYPE_NAMES.get(code, 'undefined')})"


def _ml_dtypes(what):
    """The ml_dtypes module, imported when a value first needs it. numpy has no bfloat16, float8,
    int4, ... types; ml_dtypes (a dependency of onnx) has them. Raises ImportError naming `what`
    when it is missing."""
    try:
        import ml_dtypes  # noqa: PLC0415  (optional: only these types need it)
    except ImportError:
        raise ImportError(f"{what} needs the ml_dtypes package for its numpy type (numpy has none): "
                          f"pip install ml_dtypes") from None
    return ml_dtypes


def _numpy_dtype(code, what):
    """The numpy dtype of an onyx element dtype (ml_dtypes' for the types numpy lacks), or None
    for strings and unknown codes."""
    if code in _NUMPY:
        return np.dtype(_NUMPY[code])
    if code in _ML_DTYPES:
        module = _ml_dtypes(what)
        t = getattr(module, _ML_DTYPES[code], None)
        if t is None:
            raise ImportError(f"{what} needs ml_dtypes.{_ML_DTYPES[code]}, which ml_dtypes "
                              f"{getattr(module, '__version__', '?')} lacks: pip install -U ml_dtypes")
        return np.dtype(t)
    return None


def _bfloat16_type():
    try:
        import ml_dtypes  # noqa: PLC0415  (optional: numpy has no bfloat16)
    except ImportError:
        return None
    return ml_dtypes.bfloat16


def _code_of(dtype):
    """The onyx dtype code of a numpy dtype, or None."""
    code = _ML_CODES.get(dtype.name)
    if code is not None:
        if dtype.num >= 256:  # a numpy user type (ml_dtypes'): the extension reads the next ones itself
            _onyx._learn_dtype(dtype.num, code)
        return code
    for code, t in _NUMPY.items():
        if dtype.kind == np.dtype(t).kind and dtype.itemsize == np.dtype(t).itemsize:
            return code
    return None


def _convert_tensor(what, value, declared):
    """(C-contiguous native array, dtype code) for a tensor value, a copy made once where needed,
    or raises InvalidArgument / InvalidInput naming `what`."""
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, np.generic):
        array = np.asarray(value)
    elif isinstance(value, (list, tuple, int, float, bool)):
        # Python numbers take the input's declared dtype, as ONNX Runtime does.
        try:
            array = np.asarray(value, dtype=_numpy_dtype(declared, what))
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"{what}: cannot make a {_type_name(declared)} of this "
                                  f"{type(value).__name__}: {e}") from None
    else:
        raise InvalidArgument(f"{what} must be a numpy array, not {type(value).__name__}")
    if array.dtype.kind in "OSU":
        return _string_array(what, array), _STRING
    code = _code_of(array.dtype)
    if code is None:
        raise InvalidInput(f"{what} has numpy dtype {array.dtype}, which onyx has no tensor type for "
                           f"(the model expects {_type_name(declared)})")
    if code in _ML_DTYPES:
        # Passed as their bits (np.require, not np.ascontiguousarray, which makes a scalar an array
        # of one); read in place when already contiguous.
        bits = np.uint16 if code == _BFLOAT16 else np.uint8
        return np.require(array, requirements=["C", "A"]).view(bits), code
    native = array.dtype.newbyteorder("=")
    return np.require(array.astype(native, copy=False), requirements=["C", "A"]), code


def _string_array(what, array):
    """A C-contiguous object array of bytes, one per string of `array` (str, bytes or an object
    array of them): str encoded as UTF-8, lone surrogates back to the bytes they stand for (as
    outputs are decoded), so that any bytes go in and come back."""
    flat = array.ravel().tolist()
    out = np.empty(len(flat), dtype=object)
    for i, s in enumerate(flat):
        if isinstance(s, str):
            s = s.encode("utf-8", "surrogateescape")
        elif not isinstance(s, bytes):
            raise InvalidInput(f"{what} has numpy dtype {array.dtype}: element {i} is a {type(s).__name__}, "
                               f"not a str or bytes")
        out[i] = s
    return out.reshape(array.shape)


def _convert_input(name, value, declared):
    """The slow path of run() for one input. For a tensor: (C-contiguous native array, dtype code).
    For a sequence: a list of those pairs, from a list or tuple of arrays; for an optional: None
    or what its item takes. Raises InvalidArgument / InvalidInput. C-contiguous, aligned, native
    arrays of numpy's own dtypes never come here: they are read in place."""
    return _convert(f"input '{name}'", value, declared)


def _convert(what, value, declared, outer=None):
    if declared & OPTIONAL:
        return None if value is None else _convert(what, value, declared & ~OPTIONAL, declared)
    if not declared & SEQUENCE:
        return _convert_tensor(what, value, declared)
    if not isinstance(value, (list, tuple)):
        takes = "a list of arrays" if outer is None else "None or a list of arrays"
        raise InvalidArgument(f"{what} is a {_type_name(outer or declared)}: it takes {takes}, "
                              f"not {type(value).__name__}")
    element = declared & ~SEQUENCE
    items = []
    for k, v in enumerate(value):
        array, code = _convert_tensor(f"{what}[{k}]", v, element)
        if code != element:
            raise InvalidInput(f"{what}[{k}] is a {_type_name(code)}; the model's {_type_name(declared)} "
                               f"takes only {_type_name(element)} items")
        items.append((array, code))
    return items


def _wrap_output(raw, code, name):
    """Outputs of a type numpy lacks come as their bits (uint16 for bfloat16, uint8 for the
    others): viewed as ml_dtypes' type. Without ml_dtypes, bfloat16 stays uint16 bits (as in
    onyx 0.1's first releases); the others raise ImportError."""
    if code == _BFLOAT16:
        bf16 = _bfloat16_type()
        return raw.view(bf16) if bf16 is not None else raw
    dtype = _numpy_dtype(code, f"output '{name}' ({_type_name(code)})")
    mask = _LOW_BITS.get(code)
    if mask is not None:
        np.bitwise_and(raw, mask, out=raw)
    return raw.view(dtype)


_onyx._set_errors(OnyxError, {cls.status: cls for cls in _ERRORS}, _convert_input, _wrap_output)

# ---- ONNX Runtime's types ----------------------------------------------------------------------


class GraphOptimizationLevel(enum.IntEnum):
    """As onnxruntime.GraphOptimizationLevel. onyx has one level of fusion: ORT_DISABLE_ALL turns it
    off, every other level on."""

    ORT_DISABLE_ALL = 0
    ORT_ENABLE_BASIC = 1
    ORT_ENABLE_EXTENDED = 2
    ORT_ENABLE_LAYOUT = 3
    ORT_ENABLE_ALL = 99


class ExecutionMode(enum.IntEnum):
    """As onnxruntime.ExecutionMode; onyx runs nodes in order (threads work inside nodes)."""

    ORT_SEQUENTIAL = 0
    ORT_PARALLEL = 1


# onyx's precisions (onyx.h's onyx_precision), by the names SessionOptions.precision and
# InferenceSession's precision= take.
PRECISIONS = {"fp32": 0, "float32": 0, "bf16": 1, "bfloat16": 1}


def _precision_code(precision):
    if not isinstance(precision, str) or precision.lower() not in PRECISIONS:
        raise InvalidArgument(f"precision must be 'fp32' or 'bf16', not {precision!r}")
    return PRECISIONS[precision.lower()]


# onyx's limits (onyx.h's onyx_limit), by the name SessionOptions.set_limit takes.
LIMITS = {"model_bytes": 0, "tensor_elements": 1, "memory_bytes": 2, "graph_nodes": 3, "graph_depth": 4,
          "subgraph_runs": 5}


class SessionOptions:
    """Options of an InferenceSession, with onnxruntime.SessionOptions' names. Those onyx acts on:
    intra_op_num_threads (0, the default, is one thread per processor, as in ONNX Runtime),
    graph_optimization_level, enable_profiling. The others are accepted and have no effect.
    onyx's own: set_limit / get_limit (memory, tensor size, model size, graph size),
    external_data_dir (for models given as bytes whose weights lie in files) and precision:
    "fp32" (the default) or "bf16", float32 MatMul, Gemm and fused MatMul with constant weights
    computed from operands rounded to bfloat16 (about twice as fast on processors with
    AVX512-BF16, at about 1e-3 relative error; elsewhere float32 and a RuntimeWarning; see
    docs/PYTHON.md)."""

    __slots__ = ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level",
                 "enable_profiling", "execution_mode", "log_severity_level", "log_verbosity_level", "logid",
                 "enable_cpu_mem_arena", "enable_mem_pattern", "enable_mem_reuse",
                 "use_deterministic_compute", "optimized_model_filepath", "profile_file_prefix",
                 "external_data_dir", "precision", "_limits", "_config")

    def __init__(self):
        self.intra_op_num_threads = 0
        self.inter_op_num_threads = 0
        self.graph_optimization_level = GraphOptimizationLevel.ORT_ENABLE_ALL
        self.enable_profiling = False
        self.execution_mode = ExecutionMode.ORT_SEQUENTIAL
        self.log_severity_level = 2
        self.log_verbosity_level = 0
        self.logid = ""
        self.enable_cpu_mem_arena = True
        self.enable_mem_pattern = True
        self.enable_mem_reuse = True
        self.use_deterministic_compute = False
        self.optimized_model_filepath = ""
        self.profile_file_prefix = "onnxruntime_profile_"
        self.external_data_dir = None
        self.precision = "fp32"
        self._limits = {}
        self._config = {}

    def set_limit(self, name, value):
        """Sets one of onyx's limits, by name: model_bytes, tensor_elements, memory_bytes (per model
        or session), graph_nodes, graph_depth, subgraph_runs. A session exceeding it raises
        LimitExceeded. The value is checked when a session is created."""
        if name not in LIMITS:
            raise InvalidArgument(f"no limit named {name!r}; the limits are: {', '.join(LIMITS)}")
        if not isinstance(value, int) or value <= 0:
            raise InvalidArgument(f"limit {name} must be a positive int, not {value!r}")
        self._limits[name] = value

    def get_limit(self, name):
        """The value set with set_limit, or None for the library's default."""
        if name not in LIMITS:
            raise InvalidArgument(f"no limit named {name!r}; the limits are: {', '.join(LIMITS)}")
        return self._limits.get(name)

    def add_session_config_entry(self, key, value):
        """Kept, as ONNX Runtime does; onyx reads none of them."""
        self._config[str(key)] = str(value)

    def get_session_config_entry(self, key):
        return self._config[key]

    def __repr__(self):
        return (f"SessionOptions(intra_op_num_threads={self.intra_op_num_threads}, "
                f"graph_optimization_level={self.graph_optimization_level!r}, precision={self.precision!r}, "
                f"limits={self._limits})")


class RunOptions:
    """Accepted by run() for ONNX Runtime's sake; onyx reads none of it."""

    def __init__(self):
        self.log_severity_level = 2
        self.log_verbosity_level = 0
        self.logid = ""
        self.terminate = False
        self.only_execute_path_to_fetches = False


class NodeArg:
    """An input or output of the model, as onnxruntime.NodeArg: name, type ('tensor(float)'),
    shape (ints, strings for symbolic dims, None for unknown ones)."""

    __slots__ = ("name", "type", "shape")

    def __init__(self, name, type, shape):  # noqa: A002  (ONNX Runtime's attribute name)
        self.name = name
        self.type = type
        self.shape = shape

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


class ModelMetadata:
    """As onnxruntime.ModelMetadata, with what onyx reads of a model: producer_name,
    producer_version (onyx's addition), ir_version and opsets; the fields onyx does not keep are
    empty."""

    def __init__(self, producer_name, producer_version, ir_version, opsets):
        self.producer_name = producer_name
        self.producer_version = producer_version
        self.ir_version = ir_version
        self.opsets = dict(opsets)
        self.graph_name = ""
        self.graph_description = ""
        self.domain = ""
        self.description = ""
        self.version = 0
        self.custom_metadata_map = {}


def _node_arg(name, code, shape):
    # A sequence or optional has no shape of its own: [] as in ONNX Runtime.
    return NodeArg(name, _type_name(code), [] if code & (SEQUENCE | OPTIONAL) else shape)


ProfileEntry = namedtuple("ProfileEntry", "node op_type runs total_ms")
NodeInfo = namedtuple("NodeInfo", "name op_type domain opset supported")

CPU = "CPUExecutionProvider"


def get_available_providers():
    """['CPUExecutionProvider']: onyx runs on the CPU."""
    return [CPU]


def get_all_providers():
    return [CPU]


def get_device():
    return "CPU"


def _check_providers(providers):
    for p in providers or ():
        name = p[0] if isinstance(p, (tuple, list)) else p
        if name != CPU:
            # What ONNX Runtime does for a provider it was not built with: warn, use the CPU.
            warnings.warn(f"Specified provider '{name}' is not in available provider names. "
                          f"Available providers: '{CPU}'", stacklevel=3)


class InferenceSession(_onyx.Session):
    """A model ready to run, as onnxruntime.InferenceSession:

        session = onyx.InferenceSession("model.onnx")
        y, = session.run(None, {"x": x})

    path_or_bytes: a path (str or os.PathLike) or the model's bytes. sess_options: a
    SessionOptions. providers: accepted for ONNX Runtime's sake; anything but
    'CPUExecutionProvider' draws a warning, as in ONNX Runtime without that provider.
    precision: "fp32" or "bf16", overriding sess_options.precision (onyx's own; see
    SessionOptions).

    run(output_names, input_feed, run_options=None) takes every input of the model in input_feed
    and returns a list of new numpy arrays. The GIL is released while the model runs. It may be
    called from several threads at once, as ONNX Runtime's: a run that finds the session busy
    runs on an extra onyx session of the same model (sharing its weights; up to 16, kept for
    later runs), in parallel; past that, or while profiling, runs wait for one another."""

    def __init__(self, path_or_bytes, sess_options=None, providers=None, provider_options=None, precision=None,
                 **kwargs):
        options = sess_options if sess_options is not None else SessionOptions()
        if not isinstance(options, SessionOptions):
            raise InvalidArgument(f"sess_options must be an onyx.SessionOptions, "
                                  f"not {type(options).__name__}")
        _check_providers(providers)
        if options.optimized_model_filepath:
            warnings.warn("onyx does not write optimized models: optimized_model_filepath is ignored",
                          stacklevel=2)
        threads = options.intra_op_num_threads
        if not isinstance(threads, int) or not 0 <= threads <= 256:
            raise InvalidArgument(f"intra_op_num_threads must be between 0 (one per processor) and 256, "
                                  f"not {threads!r}")
        if isinstance(path_or_bytes, (bytearray, memoryview)):
            path_or_bytes = bytes(path_or_bytes)
        elif not isinstance(path_or_bytes, (str, bytes, os.PathLike)):
            raise InvalidArgument(f"path_or_bytes must be a path or bytes, "
                                  f"not {type(path_or_bytes).__name__}")
        optimization = int(options.graph_optimization_level != GraphOptimizationLevel.ORT_DISABLE_ALL)
        limits = [(LIMITS[name], value) for name, value in options._limits.items()]
        precision = _precision_code(precision if precision is not None else options.precision)
        super().__init__(path_or_bytes, threads, optimization, limits, options.external_data_dir,
                         bool(options.enable_profiling), precision)
        self._options = options
        self._model_path = path_or_bytes if not isinstance(path_or_bytes, bytes) else None
        self._inputs_meta = [_node_arg(*i) for i in self._inputs()]
        self._outputs_meta = [_node_arg(*o) for o in self._outputs()]

    # ---- ONNX Runtime's methods ----

    def get_inputs(self):
        """The model's inputs (initializers excluded), as NodeArg."""
        return list(self._inputs_meta)

    def get_outputs(self):
        return list(self._outputs_meta)

    def get_overridable_initializers(self):
        """[]: onyx does not let a run replace an initializer."""
        return []

    def get_modelmeta(self):
        return ModelMetadata(*self._model_info())

    def get_providers(self):
        return [CPU]

    def get_provider_options(self):
        return {CPU: {}}

    def set_providers(self, providers=None, provider_options=None):
        _check_providers(providers)

    def get_session_options(self):
        return self._options

    def disable_fallback(self):
        pass

    def enable_fallback(self):
        pass

    # ---- onyx's own ----

    def profile(self):
        """Time spent per node (fused nodes as one) over the runs since profiling was turned on
        (SessionOptions.enable_profiling or set_profiling): a list of ProfileEntry(node, op_type,
        runs, total_ms) in graph order."""
        return [ProfileEntry(*e) for e in self._profile()]

    def end_profiling(self):
        """As ONNX Runtime's: writes the profile to <profile_file_prefix><date>.json as trace events
        (one per node: name, op_name, runs, total duration in microseconds), turns profiling off
        and returns the file's path; "" when profiling was off."""
        if not self._options.enable_profiling:
            return ""
        import datetime  # noqa: PLC0415
        import json  # noqa: PLC0415

        events = [{"cat": "Node", "name": f"{e.node}_kernel_time", "ph": "X", "ts": 0,
                   "dur": round(e.total_ms * 1e3), "args": {"op_name": e.op_type, "runs": e.runs}}
                  for e in self.profile()]
        path = f"{self._options.profile_file_prefix}{datetime.datetime.now():%Y-%m-%d_%H-%M-%S}.json"
        with open(path, "w") as f:
            json.dump(events, f, indent=1)
        self._set_profiling(False)
        self._options.enable_profiling = False
        return path

    def set_profiling(self, enabled=True):
        """Turns profiling on (clearing the profile) or off."""
        self._set_profiling(bool(enabled))

    def nodes(self):
        """The model's nodes in the order onyx runs them: NodeInfo(name, op_type, domain, opset,
        supported)."""
        return [NodeInfo(*n) for n in self._nodes()]

    def memory_bytes(self):
        """Bytes onyx holds for the model (weights it copied, graph) and for the session (plan,
        arena; with the extra sessions that runs from several threads at once made, when idle),
        as {'model': n, 'session': n, 'sessions': how many onyx sessions}."""
        model, own, extra, n_extra = self._memory()
        return {"model": model, "session": own + extra, "sessions": 1 + n_extra}

    def __repr__(self):
        where = self._model_path if self._model_path is not None else "<bytes>"
        return (f"<onyx.InferenceSession {where!s}: {len(self._inputs_meta)} inputs, "
                f"{len(self._outputs_meta)} outputs>")
