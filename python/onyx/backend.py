"""onyx as an ONNX backend (onnx.backend.base.Backend), so that ONNX's backend test runner can
drive it:

    import onnx.backend.test, onyx.backend
    globals().update(onnx.backend.test.BackendTest(onyx.backend, __name__).test_cases)

or one model at a time: onyx.backend.run_model(model, [x]), onyx.backend.prepare(model).run([x]).
Needs the onnx package (not a dependency of onyx itself).
"""

import numpy as np
import onnx
from onnx import helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from . import _onyx
from ._session import InferenceSession, InvalidArgument, SessionOptions, _bfloat16_type


def _session_options(kwargs):
    options = SessionOptions()
    # One thread unless asked: what `onyx test` runs the same data with.
    options.intra_op_num_threads = int(kwargs.get("intra_op_num_threads", 1))
    return options


class OnyxBackendRep(BackendRep):
    """A prepared model: run(inputs) with a list of arrays in the order of the model's inputs (or a
    dict by name, or one array) returns the outputs as a tuple that can also be indexed by name."""

    def __init__(self, session):
        self.session = session
        self._inputs = session.get_inputs()
        self._output_names = [o.name for o in session.get_outputs()]
        self._bfloat16 = {i.name for i in self._inputs if i.type == "tensor(bfloat16)"}

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            feed = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            inputs = list(inputs)
            if len(inputs) > len(self._inputs):
                raise InvalidArgument(f"{len(inputs)} inputs given; the model has {len(self._inputs)}")
            feed = {i.name: v for i, v in zip(self._inputs, inputs)}
        # ONNX's test data keeps bfloat16 as uint16 where ml_dtypes is missing: the same bits.
        bf16 = _bfloat16_type() if self._bfloat16 else None
        for name in self._bfloat16:
            v = feed.get(name)
            if bf16 is not None and isinstance(v, np.ndarray) and v.dtype == np.uint16:
                feed[name] = v.view(bf16)
        outputs = self.session.run(None, feed)
        return namedtupledict("Outputs", self._output_names)(*outputs)


class OnyxBackend(Backend):
    """onnx.backend.base.Backend over onyx.InferenceSession, on the CPU."""

    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs):
        return cls.supports_device(device)

    @classmethod
    def supports_device(cls, device):
        try:
            return Device(device).type == DeviceType.CPU
        except (AttributeError, ValueError):
            return False

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        """model: an onnx.ModelProto, its bytes or a path. Raises onyx.Unsupported for a model
        onyx lacks an operator or type for, onyx.InvalidModel for a malformed one."""
        if not cls.supports_device(device):
            raise InvalidArgument(f"onyx runs on the CPU, not on {device!r}")
        if isinstance(model, onnx.ModelProto):
            model = model.SerializeToString()
        return OnyxBackendRep(InferenceSession(model, _session_options(kwargs)))

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        """Runs one node on inputs (arrays in the order of node.input, empty names skipped; a list
        of arrays for a sequence), in a model of its own at opset kwargs['opset_version']
        (default: the newest onyx knows)."""
        names = [n for n in node.input if n]
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in names]
        inputs = [[np.asarray(item) for item in v] if isinstance(v, (list, tuple)) else np.asarray(v)
                  for v in inputs]
        if len(inputs) != len(names):
            raise InvalidArgument(f"{len(inputs)} inputs for the {len(names)} of node {node.op_type}")
        graph_inputs = [_value_info(n, v) for n, v in zip(names, inputs)]
        if outputs_info:
            graph_outputs = [helper.make_tensor_value_info(n, _tensor_type(np.dtype(dtype)), shape)
                             for n, (dtype, shape) in zip(node.output, outputs_info)]
        else:
            graph_outputs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
        graph = helper.make_graph([node], f"run_node_{node.op_type}", graph_inputs, graph_outputs)
        version = kwargs.get("opset_version") or min(onnx.defs.onnx_opset_version(), _onyx.MAX_OPSET)
        opsets = [helper.make_opsetid("", version)]
        if node.domain not in ("", "ai.onnx"):
            schema = onnx.defs.get_schema(node.op_type, node.domain)
            opsets.append(helper.make_opsetid(node.domain, schema.since_version))
        model = helper.make_model(graph, opset_imports=opsets)
        return cls.run_model(model, inputs, device, **kwargs)


def _tensor_type(dtype):
    return helper.np_dtype_to_tensor_dtype(dtype)


def _value_info(name, value):
    """A graph input for a value of run_node: a tensor of its dtype and shape, or a sequence of the
    dtype of its items (float for an empty one)."""
    if isinstance(value, list):
        dtype = value[0].dtype if value else np.dtype(np.float32)
        return helper.make_tensor_sequence_value_info(name, _tensor_type(dtype), None)
    return helper.make_tensor_value_info(name, _tensor_type(value.dtype), value.shape)


is_compatible = OnyxBackend.is_compatible
prepare = OnyxBackend.prepare
run_model = OnyxBackend.run_model
run_node = OnyxBackend.run_node
supports_device = OnyxBackend.supports_device
