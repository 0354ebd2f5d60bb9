"""convd from Python: numpy arrays in, numpy arrays out, msgpack on the wire.

Needs numpy and msgpack only (Debian: python3-numpy python3-msgpack; pip: numpy msgpack);
HTTP is the standard library's urllib.

    import numpy as np
    from convd_client import conv_forward, conv_backward

    x = np.random.rand(2, 3, 9, 8).astype(np.float32)
    w = np.random.rand(4, 3, 3, 3).astype(np.float32)
    y = conv_forward(x, w, stride=2, padding="same")                 # numpy float32 [2, 4, 5, 4]
    gx, gw, gb = conv_backward(x, w, np.ones_like(y), stride=2, padding="same")

Tensors travel as msgpack bin holding the little-endian bytes (the wire contract), so float32
and float64 arrays round-trip exactly. The other arguments are the contract's fields with its
defaults: stride, padding (int, per-dim list, [[before, after], ...], "valid", "same"),
dilation, groups, padding_mode ("zeros", "reflect", "replicate", "circular") and layout
("channels_first", "channels_last", or NCHW-style letters). A non-2xx answer raises
ConvdError carrying the problem+json body.
"""
import json
import os
import urllib.error
import urllib.request

import msgpack
import numpy as np

__all__ = ["ConvdError", "conv_forward", "conv_backward", "DEFAULT_URL"]

DEFAULT_URL = os.environ.get("CONVD_URL", "http://127.0.0.1:8080")
_DTYPES = ("float32", "float64")


class ConvdError(Exception):
    """A non-2xx answer: status and the RFC 9457 problem (a dict), or the raw text."""

    def __init__(self, status, problem):
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("title") if isinstance(problem, dict) else problem
        super().__init__(f"convd answered {status}: {detail}")


def _tensor(name, a, dtype):
    a = np.asarray(a)
    if dtype is None:
        dtype = a.dtype if a.dtype.name in _DTYPES else np.dtype("float32")
    a = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension")
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": a.tobytes()}


def _array(t):
    dtype = np.dtype(t["dtype"]).newbyteorder("<")
    # a copy: the bin may be read-only and at any offset; native byte order for the caller
    return np.frombuffer(t["data"], dtype=dtype).reshape(t["shape"]).astype(t["dtype"])


def _post(url, path, body, timeout):
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=msgpack.packb(body, use_bin_type=True),
        headers={"Content-Type": "application/msgpack", "Accept": "application/msgpack"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return msgpack.unpackb(response.read(), raw=False)
    except urllib.error.HTTPError as err:
        text = err.read().decode("utf-8", "replace")
        try:
            problem = json.loads(text)
        except ValueError:
            problem = text
        raise ConvdError(err.code, problem) from None


def _params(stride, padding, dilation, groups, padding_mode, layout):
    params = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
              "padding_mode": padding_mode, "layout": layout}
    return {k: v for k, v in params.items() if v is not None}


def _dtype_of(*arrays):
    """The request dtype: float64 if any operand is float64, else float32."""
    names = {np.asarray(a).dtype.name for a in arrays if a is not None}
    return np.dtype("float64") if "float64" in names else np.dtype("float32")


def conv_forward(input, weight, bias=None, *, stride=None, padding=None, dilation=None, groups=None,
                 padding_mode=None, layout=None, url=None, timeout=60.0):
    """conv(input, weight) + bias, as PyTorch's conv1d/2d/3d (rank 3, 4 or 5); returns a numpy array.

    All operands are sent in one dtype: float64 if any of them is float64, else float32.
    """
    dtype = _dtype_of(input, weight, bias)
    body = {"input": _tensor("input", input, dtype), "weight": _tensor("weight", weight, dtype)}
    if bias is not None:
        body["bias"] = _tensor("bias", bias, dtype)
    body.update(_params(stride, padding, dilation, groups, padding_mode, layout))
    return _array(_post(url or DEFAULT_URL, "/conv/forward", body, timeout)["output"])


def conv_backward(input, weight, grad_output, *, grads=("input", "weight", "bias"), stride=None, padding=None,
                  dilation=None, groups=None, padding_mode=None, layout=None, url=None, timeout=60.0):
    """Gradients of the forward with respect to input, weight and bias given grad_output.

    Returns a tuple in the order of `grads` (default: grad_input, grad_weight, grad_bias).
    """
    grads = tuple(grads)
    dtype = _dtype_of(input, weight, grad_output)
    body = {
        "input": _tensor("input", input, dtype),
        "weight": _tensor("weight", weight, dtype),
        "grad_output": _tensor("grad_output", grad_output, dtype),
        "grads": list(grads),
    }
    body.update(_params(stride, padding, dilation, groups, padding_mode, layout))
    answer = _post(url or DEFAULT_URL, "/conv/backward", body, timeout)
    return tuple(_array(answer[f"grad_{g}"]) for g in grads)
