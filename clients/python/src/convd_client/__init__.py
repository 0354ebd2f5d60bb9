"""convd from Python: numpy arrays in, numpy arrays out, msgpack (default) or JSON on the wire.

Needs numpy and msgpack only; HTTP is the standard library's urllib.

    import numpy as np
    import convd_client

    convd = convd_client.Client("http://127.0.0.1:8080")   # or Client(): $CONVD_URL, else http://127.0.0.1:8080
    x = np.random.rand(2, 3, 9, 8).astype(np.float32)
    w = np.random.rand(4, 3, 3, 3).astype(np.float32)
    y = convd.conv_forward(x, w, stride=2, padding="same")            # float32 [2, 4, 5, 4]
    gx, gw, gb = convd.conv_backward(x, w, np.ones_like(y), stride=2, padding="same")
    t = convd.conv_transpose(y, w, stride=2, padding=1)                # weight [C_in, C_out/groups, *k]
    ty, tw, tb = convd.conv_transpose_backward(y, w, np.ones_like(t), stride=2, padding=1)
    p = convd.pool_forward(x, "max", 2)                                # mode, kernel_size
    gp = convd.pool_backward(x, np.ones_like(p), "max", 2)             # grad_input, shaped like x

One method per endpoint (POST /conv/forward, /conv/backward, /conv/transpose,
/conv/transpose/backward, /pool/forward, /pool/backward, /pool/adaptive/forward,
/pool/adaptive/backward, /unfold, /fold); the module-level functions of the same names make a Client per call from
their url=, wire= and timeout= arguments.

Tensors travel as msgpack bin holding the little-endian bytes (JSON: base64 of the same bytes),
so float32 and float64 arrays round-trip exactly, NaN and infinities included. The operands of
one request share a dtype: float64 if any of them is float64, float16 if all of them are
float16, else float32 (other dtypes are converted); dtype= picks one ("float32", "float64",
"float16" or "bfloat16"). float16 and bfloat16 are computed in float32 by the server and each
result rounded once to the dtype; float16 results come back as numpy float16 arrays, bfloat16
ones (numpy has no bfloat16) as float32 arrays holding the bfloat16 values exactly. The other
arguments are the API's fields, with its defaults when left None; any further keyword is sent
as a field as it is (the server rejects names it does not know). A non-2xx answer raises
ConvdError carrying the RFC 9457 problem document.
"""
import base64
import json
import os
import urllib.error
import urllib.request

import msgpack
import numpy as np

__all__ = [
    "Client",
    "ConvdError",
    "conv_forward",
    "conv_backward",
    "conv_transpose",
    "conv_transpose_backward",
    "pool_forward",
    "pool_backward",
    "adaptive_pool_forward",
    "adaptive_pool_backward",
    "unfold",
    "fold",
    "DEFAULT_URL",
    "DTYPES",
    "WIRES",
    "round_bfloat16",
]
__version__ = "0.1.0"

#: The server used when neither url= nor the CONVD_URL environment variable names one.
DEFAULT_URL = "http://127.0.0.1:8080"
#: The wire formats: "msgpack" (the default) and "json".
WIRES = ("msgpack", "json")
#: The dtypes the service takes; numpy has no bfloat16, which travels as the top halves of float32s.
DTYPES = ("float32", "float64", "float16", "bfloat16")


class ConvdError(Exception):
    """A non-2xx answer from convd.

    status  -- the HTTP status code
    problem -- the RFC 9457 problem document (a dict with type, title, status, detail and
               maybe errors), or the raw text of a body that is not JSON
    headers -- the answer's headers, names in lower case (e.g. "retry-after" on a 503)
    """

    def __init__(self, status, problem, headers=None):
        self.status = status
        self.problem = problem
        self.headers = {str(k).lower(): v for k, v in dict(headers or {}).items()}
        super().__init__(status, problem)

    def _field(self, key):
        return self.problem.get(key) if isinstance(self.problem, dict) else None

    @property
    def type(self):
        """A URI naming the kind of problem, e.g. "urn:convd:problem:invalid-geometry"."""
        return self._field("type")

    @property
    def title(self):
        return self._field("title")

    @property
    def detail(self):
        return self._field("detail")

    @property
    def errors(self):
        """Every problem found with the request: a list of {"path", "message"} dicts (may be empty)."""
        return self._field("errors") or []

    def __str__(self):
        said = (self.detail or self.title) if isinstance(self.problem, dict) else self.problem
        return f"convd answered {self.status}: {said}"

    def __reduce__(self):
        return (type(self), (self.status, self.problem, self.headers))


def _dtype_of(arrays, dtype=None):
    """The request dtype: `dtype` when given; else float64 if any operand is float64, float16 if all are, else float32."""
    if dtype is not None:
        name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
        if name not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
        return name
    names = {np.asarray(a).dtype.name for a in arrays if a is not None}
    if "float64" in names:
        return "float64"
    return "float16" if names == {"float16"} else "float32"


def _bfloat16_bits(a):
    """float32 values -> bfloat16 bits (uint16), each rounded to nearest, ties to even.

    A bfloat16 is the top half of a float32: add half an ulp of the result (0x7fff) plus 1 when
    the kept half is odd, so that an exact tie carries only from an odd result; NaN first (it
    would carry into infinity), kept a quiet NaN with its sign.
    """
    bits = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
    nan = np.isnan(a)
    rounded[nan] = ((bits[nan] >> 16) & 0x8000 | 0x7FC0).astype("<u2")
    return rounded


def _bfloat16_values(bits):
    """bfloat16 bits (uint16) -> their float32 values (exact)."""
    return (np.asarray(bits, dtype="<u2").astype("<u4") << 16).view("<f4").astype(np.float32)


def round_bfloat16(a):
    """`a` rounded to bfloat16 (to nearest, ties to even), as float32: what convd computes a bfloat16 operand with."""
    a = np.asarray(a, dtype=np.float32)
    return _bfloat16_values(_bfloat16_bits(a)).reshape(a.shape)


def _tensor(name, a, dtype, wire):
    wide = "float32" if dtype == "bfloat16" else dtype
    a = np.ascontiguousarray(np.asarray(a), dtype=np.dtype(wide).newbyteorder("<"))
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension")
    data = (_bfloat16_bits(a) if dtype == "bfloat16" else a).tobytes()
    if wire == "json":
        data = base64.b64encode(data).decode("ascii")
    return {"dtype": dtype, "shape": list(a.shape), "data": data}


def _pooled(answer, fields):
    """A pooling's output, or (output, indices) as int64 when the request asked for return_indices."""
    output = _array("output", answer.get("output"))
    if not fields.get("return_indices"):
        return output
    return output, _array("indices", answer.get("indices")).astype(np.int64)


def _array(name, t):
    if not isinstance(t, dict) or t.get("dtype") not in DTYPES:
        raise ConvdError(200, f"the answer's {name} is not a tensor")
    dtype = t["dtype"]
    data = t["data"]
    if isinstance(data, str):
        data = base64.b64decode(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        if dtype == "bfloat16":
            return _bfloat16_values(np.frombuffer(data, dtype="<u2")).reshape(t["shape"])
        a = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"))
    else:  # a JSON number array, non-finite values as "NaN", "Infinity", "-Infinity"
        a = np.array([float(v) for v in data], dtype=np.float64)
    # a writable copy in native byte order (bfloat16 values as float32)
    return a.astype("float32" if dtype == "bfloat16" else dtype).reshape(t["shape"])


def _plain(value):
    """Parameters as msgpack and JSON take them: tuples and numpy values become lists and Python numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Client:
    """A convd server at `url` (default: $CONVD_URL, else DEFAULT_URL).

    wire    -- "msgpack" (default) or "json"; each call can override it with wire=
    timeout -- seconds per request (urllib's timeout)
    headers -- extra headers sent with every request (e.g. {"x-request-id": "..."})
    """

    def __init__(self, url=None, *, wire="msgpack", timeout=60.0, headers=None):
        if wire not in WIRES:
            raise ValueError(f"wire must be one of {WIRES}, not {wire!r}")
        self.url = (url or os.environ.get("CONVD_URL") or DEFAULT_URL).rstrip("/")
        self.wire = wire
        self.timeout = timeout
        self.headers = dict(headers or {})

    def __repr__(self):
        return f"convd_client.Client({self.url!r}, wire={self.wire!r})"

    # -- the endpoints -------------------------------------------------------------------

    def conv_forward(self, input, weight, bias=None, *, stride=None, padding=None, dilation=None, groups=None,
                     padding_mode=None, layout=None, weight_layout=None, dtype=None, wire=None, **fields):
        """POST /conv/forward: conv(input, weight) + bias, as PyTorch's conv1d/2d/3d; returns the output array.

        input [N, C_in, *spatial] and weight [C_out, C_in/groups, *k] (layout "channels_first",
        the default), or [N, *spatial, C_in] and [*k, C_in/groups, C_out] ("channels_last").
        padding: an int, one per spatial dim, [[before, after], ...], "valid", "same" or "same_lower".
        padding_mode: "zeros", "reflect", "replicate" or "circular".
        weight_layout: "OIHW" (etc.) for a PyTorch weight beside channels_last data, "HWIO" (etc.) the other way.
        """
        params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                      padding_mode=padding_mode, layout=layout, weight_layout=weight_layout, **fields)
        answer = self._call("/conv/forward", {"input": input, "weight": weight, "bias": bias}, params, wire, dtype)
        return _array("output", answer.get("output"))

    def conv_backward(self, input, weight, grad_output, *, bias=None, grads=("input", "weight", "bias"), stride=None,
                      padding=None, dilation=None, groups=None, padding_mode=None, layout=None, weight_layout=None,
                      dtype=None, wire=None, **fields):
        """POST /conv/backward: the gradients of the forward given grad_output.

        Takes the forward's arguments; returns a tuple in the order of `grads` (default:
        grad_input, grad_weight, grad_bias). bias, if given, has its shape checked only.
        """
        grads = [grads] if isinstance(grads, str) else list(grads)
        params = dict(grads=grads, stride=stride, padding=padding, dilation=dilation, groups=groups,
                      padding_mode=padding_mode, layout=layout, weight_layout=weight_layout, **fields)
        tensors = {"input": input, "weight": weight, "bias": bias, "grad_output": grad_output}
        answer = self._call("/conv/backward", tensors, params, wire, dtype)
        return tuple(_array(f"grad_{g}", answer.get(f"grad_{g}")) for g in grads)

    def conv_transpose(self, input, weight, bias=None, *, stride=None, padding=None, output_padding=None,
                       output_size=None, dilation=None, groups=None, layout=None, dtype=None, wire=None, **fields):
        """POST /conv/transpose: conv_transpose(input, weight) + bias, as PyTorch's conv_transpose1d/2d/3d.

        weight in PyTorch's transposed layout: [C_in, C_out/groups, *k] (channels_first) or
        [*k, C_out/groups, C_in] (channels_last). output_size is PyTorch's (it picks output_padding),
        or ONNX's output_shape with padding "same" / "same_lower". Returns the output array.
        """
        params = dict(stride=stride, padding=padding, output_padding=output_padding, output_size=output_size,
                      dilation=dilation, groups=groups, layout=layout, **fields)
        answer = self._call("/conv/transpose", {"input": input, "weight": weight, "bias": bias}, params, wire, dtype)
        return _array("output", answer.get("output"))

    def conv_transpose_backward(self, input, weight, grad_output, *, bias=None, grads=("input", "weight", "bias"),
                                stride=None, padding=None, output_padding=None, output_size=None, dilation=None,
                                groups=None, layout=None, dtype=None, wire=None, **fields):
        """POST /conv/transpose/backward: the gradients of conv_transpose given grad_output.

        Takes conv_transpose's arguments; returns a tuple in the order of `grads` (default:
        grad_input, grad_weight, grad_bias). bias, if given, has its shape checked only.
        """
        grads = [grads] if isinstance(grads, str) else list(grads)
        params = dict(grads=grads, stride=stride, padding=padding, output_padding=output_padding,
                      output_size=output_size, dilation=dilation, groups=groups, layout=layout, **fields)
        tensors = {"input": input, "weight": weight, "bias": bias, "grad_output": grad_output}
        answer = self._call("/conv/transpose/backward", tensors, params, wire, dtype)
        return tuple(_array(f"grad_{g}", answer.get(f"grad_{g}")) for g in grads)

    def pool_forward(self, input, mode, kernel_size, *, stride=None, padding=None, dilation=None,
                     count_include_pad=None, layout=None, dtype=None, wire=None, **fields):
        """POST /pool/forward: max, average or lp pooling ("max" / "avg" / "lp"), as PyTorch's
        max_pool / avg_pool / lp_pool (and ONNX MaxPool / AveragePool / LpPool).

        stride defaults to kernel_size; padding: an int, one per spatial dim, [[before, after], ...],
        "valid", "same" or "same_lower". Other fields (ceil_mode, divisor_override, p, lp_abs
        (True: ONNX LpPool's |x|^p), return_indices, storage_order) pass as keywords. Returns the pooled array, or with
        return_indices=True the pair (output, indices) as PyTorch does: each maximum's flat
        index within its channel, row-major, or column-major with storage_order=1 (ONNX's).
        """
        params = dict(mode=mode, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                      count_include_pad=count_include_pad, layout=layout, **fields)
        answer = self._call("/pool/forward", {"input": input}, params, wire, dtype)
        return _pooled(answer, fields)

    def pool_backward(self, input, grad_output, mode, kernel_size, *, stride=None, padding=None, dilation=None,
                      count_include_pad=None, layout=None, dtype=None, wire=None, **fields):
        """POST /pool/backward: the gradient w.r.t. input given grad_output (the forward output's shape).

        Max routes each gradient to the first maximum of its window; avg spreads it over the
        window. Returns grad_input, shaped like input.
        """
        params = dict(mode=mode, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                      count_include_pad=count_include_pad, layout=layout, **fields)
        answer = self._call("/pool/backward", {"input": input, "grad_output": grad_output}, params, wire, dtype)
        return _array("grad_input", answer.get("grad_input"))

    def adaptive_pool_forward(self, input, mode, output_size, *, layout=None, dtype=None, wire=None, **fields):
        """POST /pool/adaptive/forward: adaptive max / average pooling as PyTorch's adaptive_max_pool /
        adaptive_avg_pool ("max" / "avg"), or lp ("lp", p=...) over the same windows.

        output_size: an int, or one per spatial dim (None keeps the input extent); 1 is global
        pooling (ONNX GlobalMaxPool / GlobalAveragePool / GlobalLpPool). Returns the pooled
        array, or with return_indices=True the pair (output, indices).
        """
        params = dict(mode=mode, output_size=output_size, layout=layout, **fields)
        return _pooled(self._call("/pool/adaptive/forward", {"input": input}, params, wire, dtype), fields)

    def adaptive_pool_backward(self, input, grad_output, mode, output_size, *, layout=None, dtype=None, wire=None,
                               **fields):
        """POST /pool/adaptive/backward: the gradient w.r.t. input given grad_output. Returns grad_input."""
        params = dict(mode=mode, output_size=output_size, layout=layout, **fields)
        answer = self._call("/pool/adaptive/backward", {"input": input, "grad_output": grad_output}, params, wire,
                            dtype)
        return _array("grad_input", answer.get("grad_input"))

    def unfold(self, input, kernel_size, *, stride=None, padding=None, dilation=None, layout=None, dtype=None, wire=None,
               **fields):
        """POST /unfold: every kernel window of the image as a column, as PyTorch's F.unfold (1-D to 3-D).

        Returns the columns [N, C * prod(kernel_size), L]; fold with the same arguments is its backward.
        """
        params = dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, layout=layout,
                      **fields)
        answer = self._call("/unfold", {"input": input}, params, wire, dtype)
        return _array("output", answer.get("output"))

    def fold(self, input, output_size, kernel_size, *, stride=None, padding=None, dilation=None, layout=None,
             dtype=None, wire=None, **fields):
        """POST /fold: columns [N, C * prod(k), L] added back into an image of output_size, as PyTorch's F.fold.

        Returns the image; unfold with the same arguments is its backward.
        """
        params = dict(output_size=output_size, kernel_size=kernel_size, stride=stride, padding=padding,
                      dilation=dilation, layout=layout, **fields)
        answer = self._call("/fold", {"input": input}, params, wire, dtype)
        return _array("output", answer.get("output"))

    # -- the wire ------------------------------------------------------------------------

    def _call(self, path, tensors, params, wire, dtype):
        wire = wire or self.wire
        if wire not in WIRES:
            raise ValueError(f"wire must be one of {WIRES}, not {wire!r}")
        dtype = _dtype_of(tensors.values(), dtype)
        body = {name: _tensor(name, a, dtype, wire) for name, a in tensors.items() if a is not None}
        body.update({k: _plain(v) for k, v in params.items() if v is not None})
        if wire == "json":
            body["encoding"] = "base64"
            data, media = json.dumps(body).encode("utf-8"), "application/json"
        else:
            data, media = msgpack.packb(body, use_bin_type=True), "application/msgpack"
        request = urllib.request.Request(
            self.url + path,
            data=data,
            headers={**self.headers, "Content-Type": media, "Accept": media},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            try:
                problem = json.loads(text)
            except ValueError:
                problem = text
            raise ConvdError(err.code, problem, err.headers.items()) from None
        return json.loads(raw) if wire == "json" else msgpack.unpackb(raw, raw=False)


# -- module-level functions: a Client per call ---------------------------------------------

def _client(url, wire, timeout):
    return Client(url, wire=wire or "msgpack", timeout=60.0 if timeout is None else timeout)


def conv_forward(input, weight, bias=None, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).conv_forward(input, weight, bias, **kwargs)."""
    return _client(url, wire, timeout).conv_forward(input, weight, bias, **kwargs)


def conv_backward(input, weight, grad_output, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).conv_backward(input, weight, grad_output, **kwargs)."""
    return _client(url, wire, timeout).conv_backward(input, weight, grad_output, **kwargs)


def conv_transpose(input, weight, bias=None, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).conv_transpose(input, weight, bias, **kwargs)."""
    return _client(url, wire, timeout).conv_transpose(input, weight, bias, **kwargs)


def conv_transpose_backward(input, weight, grad_output, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).conv_transpose_backward(input, weight, grad_output, **kwargs)."""
    return _client(url, wire, timeout).conv_transpose_backward(input, weight, grad_output, **kwargs)


def pool_forward(input, mode, kernel_size, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).pool_forward(input, mode, kernel_size, **kwargs)."""
    return _client(url, wire, timeout).pool_forward(input, mode, kernel_size, **kwargs)


def pool_backward(input, grad_output, mode, kernel_size, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).pool_backward(input, grad_output, mode, kernel_size, **kwargs)."""
    return _client(url, wire, timeout).pool_backward(input, grad_output, mode, kernel_size, **kwargs)


def adaptive_pool_forward(input, mode, output_size, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).adaptive_pool_forward(input, mode, output_size, **kwargs)."""
    return _client(url, wire, timeout).adaptive_pool_forward(input, mode, output_size, **kwargs)


def adaptive_pool_backward(input, grad_output, mode, output_size, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).adaptive_pool_backward(input, grad_output, mode, output_size, **kwargs)."""
    return _client(url, wire, timeout).adaptive_pool_backward(input, grad_output, mode, output_size, **kwargs)


def unfold(input, kernel_size, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).unfold(input, kernel_size, **kwargs)."""
    return _client(url, wire, timeout).unfold(input, kernel_size, **kwargs)


def fold(input, output_size, kernel_size, *, url=None, wire=None, timeout=None, **kwargs):
    """Client(url, wire=wire, timeout=timeout).fold(input, output_size, kernel_size, **kwargs)."""
    return _client(url, wire, timeout).fold(input, output_size, kernel_size, **kwargs)
