#!/usr/bin/env python3
"""convd from Python: numpy arrays sent as raw bytes in msgpack, results checked against numpy.

    python3 examples/python/client.py [http://127.0.0.1:8080]

Needs numpy and msgpack (Debian: python3-numpy python3-msgpack; pip: numpy msgpack).
Runs a 2-D forward (stride 2, padding 1, bias) and its backward, computes the same with
numpy here, and exits 1 if any element differs by more than the float32 tolerance.
"""
import sys
import urllib.error
import urllib.request

import msgpack
import numpy as np

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"


def tensor(a):
    """A contract tensor: dtype, shape, and the little-endian bytes as a msgpack bin."""
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": a.tobytes()}


def array(t):
    return np.frombuffer(t["data"], dtype=np.dtype(t["dtype"]).newbyteorder("<")).reshape(t["shape"])


def post(path, body):
    request = urllib.request.Request(
        URL + path,
        data=msgpack.packb(body, use_bin_type=True),
        headers={"Content-Type": "application/msgpack", "Accept": "application/msgpack"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return msgpack.unpackb(response.read(), raw=False)
    except urllib.error.HTTPError as err:  # errors are application/problem+json
        sys.exit(f"{path}: {err.code} {err.read().decode()}")


# numpy reference, NCHW, zero padding: one strided window per output position
def windows(x, k, stride, pad):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    view = np.lib.stride_tricks.sliding_window_view(xp, k, axis=(2, 3))
    return view[:, :, ::stride, ::stride]  # [N, C, OH, OW, kh, kw]


def forward(x, w, b, stride, pad):
    return np.einsum("ncijhw,ochw->noij", windows(x, w.shape[2:], stride, pad), w) + b[None, :, None, None]


def backward(x, w, dy, stride, pad):
    grad_weight = np.einsum("ncijhw,noij->ochw", windows(x, w.shape[2:], stride, pad), dy)
    n, c, height, width = x.shape
    oh, ow = dy.shape[2:]
    dxp = np.zeros((n, c, height + 2 * pad, width + 2 * pad), dtype=np.float64)
    for h in range(w.shape[2]):
        for v in range(w.shape[3]):
            dxp[:, :, h : h + stride * oh : stride, v : v + stride * ow : stride] += np.einsum("noij,oc->ncij", dy, w[:, :, h, v])
    return dxp[:, :, pad : pad + height, pad : pad + width], grad_weight, dy.sum(axis=(0, 2, 3))


def check(name, got, want):
    want = np.asarray(want)
    tolerance = 1e-5 * (1 + np.abs(want).max())
    error = np.abs(got.astype(np.float64) - want).max()
    print(f"{name}: shape {list(got.shape)}, max |error| {error:.2e} (tolerance {tolerance:.1e})")
    if got.shape != want.shape or not error <= tolerance:
        sys.exit(f"{name} differs from numpy")


rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)
params = {"stride": 2, "padding": 1}
x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))

out = array(post("/conv/forward", {"input": tensor(x), "weight": tensor(w), "bias": tensor(b), **params})["output"])
check("output", out, forward(x64, w64, b64, 2, 1))

dy = rng.standard_normal(out.shape).astype(np.float32)
grads = post("/conv/backward", {"input": tensor(x), "weight": tensor(w), "grad_output": tensor(dy), **params})
want = backward(x64, w64, dy.astype(np.float64), 2, 1)
for key, reference in zip(("grad_input", "grad_weight", "grad_bias"), want):
    check(key, array(grads[key]), reference)
print("python client: all results match numpy")
