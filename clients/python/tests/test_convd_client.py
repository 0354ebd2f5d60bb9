"""convd_client against a live server, every endpoint on both wires.

    CONVD_URL=http://127.0.0.1:PORT python3 -m unittest discover -v -s tests

The forward and pooling are checked against numpy references; the backward passes through the
adjoint identities <grad_input, dx> = <g, conv(dx, w)> and <grad_weight, dw> = <g, conv(x, dw)>;
conv_transpose against a direct scatter loop and conv_backward's grad_input; conv_transpose_backward
against conv_forward and conv_backward with the roles swapped.
"""
import os
import pickle
import unittest
from unittest import mock

import numpy as np

import convd_client
from convd_client import Client, ConvdError

URL = os.environ.get("CONVD_URL")


def setUpModule():
    if not URL:
        raise RuntimeError("set CONVD_URL to a running convd, e.g. http://127.0.0.1:8080")


def reference_conv2d(x, w, b, stride, pad):
    """NCHW, zero padding, groups 1: one strided window per output position."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    view = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    y = np.einsum("ncijhw,ochw->noij", view, w)
    return y if b is None else y + b[None, :, None, None]


def reference_conv_transpose1d(x, w, stride, padding, output_padding):
    """x [N, C_in, L], w [C_in, C_out, k]: each input element scatters its weighted kernel."""
    n, cin, length = x.shape
    _, cout, k = w.shape
    full = (length - 1) * stride + k + output_padding
    y = np.zeros((n, cout, full + padding), dtype=np.float64)
    for t in range(length):
        y[:, :, t * stride : t * stride + k] += np.einsum("nc,cok->nok", x[:, :, t], w)
    return y[:, :, padding : padding + (length - 1) * stride - 2 * padding + k + output_padding]


def reference_pool2d(x, mode, k, stride, pad, count_include_pad=True):
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    if mode == "max":
        return view.max(axis=(-2, -1))
    if count_include_pad:
        return view.mean(axis=(-2, -1))
    ones = np.pad(np.ones(x.shape[2:]), pad)
    counts = np.lib.stride_tricks.sliding_window_view(ones, (k, k))[::stride, ::stride].sum(axis=(-2, -1))
    return view.sum(axis=(-2, -1)) / counts


class Endpoints:
    """The endpoint tests; one subclass per wire."""

    wire = None

    def setUp(self):
        self.rng = np.random.default_rng(7)
        self.convd = Client(URL, wire=self.wire)

    def test_conv_forward_float32_matches_numpy(self):
        x = self.rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
        w = self.rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        b = self.rng.standard_normal(4).astype(np.float32)
        y = self.convd.conv_forward(x, w, b, stride=2, padding=1)
        self.assertEqual(y.dtype, np.float32)
        self.assertEqual(y.shape, (2, 4, 5, 4))
        want = reference_conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, 1)
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)

    def test_conv_forward_float64_and_channels_last(self):
        x = self.rng.standard_normal((1, 2, 7, 6))
        w = self.rng.standard_normal((3, 2, 3, 3))
        y = self.convd.conv_forward(x, w, padding="same")
        self.assertEqual(y.dtype, np.float64)
        np.testing.assert_allclose(y, reference_conv2d(x, w, None, 1, 1), rtol=1e-12, atol=1e-12)
        # NHWC input and HWIO weight give the same numbers, NHWC out; a non-contiguous view is fine
        y_last = self.convd.conv_forward(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), padding="same",
                                         layout="channels_last")
        np.testing.assert_allclose(y_last, y.transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
        # a PyTorch weight beside channels_last data: weight_layout says so
        y_torch = self.convd.conv_forward(x.transpose(0, 2, 3, 1), w, padding="same", layout="NHWC",
                                          weight_layout="OIHW")
        np.testing.assert_allclose(y_torch, y.transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)

    def test_conv_backward_is_the_adjoint_of_forward(self):
        x = self.rng.standard_normal((2, 4, 8, 7))
        w = self.rng.standard_normal((6, 2, 3, 2))  # groups 2
        params = dict(stride=(2, 1), padding=[[1, 0], [0, 1]], dilation=1, groups=2)
        y = self.convd.conv_forward(x, w, **params)
        g = self.rng.standard_normal(y.shape)
        gx, gw, gb = self.convd.conv_backward(x, w, g, **params)
        self.assertEqual((gx.shape, gw.shape, gb.shape), (x.shape, w.shape, (6,)))
        dx = self.rng.standard_normal(x.shape)
        dw = self.rng.standard_normal(w.shape)
        self.assertAlmostEqual(np.vdot(gx, dx), np.vdot(g, self.convd.conv_forward(dx, w, **params)), places=9)
        self.assertAlmostEqual(np.vdot(gw, dw), np.vdot(g, self.convd.conv_forward(x, dw, **params)), places=9)
        np.testing.assert_allclose(gb, g.sum(axis=(0, 2, 3)), rtol=1e-12)
        # only the requested gradients, in the requested order
        only_bias, only_weight = self.convd.conv_backward(x, w, g, grads=["bias", "weight"], **params)
        np.testing.assert_allclose(only_weight, gw, rtol=1e-12)
        np.testing.assert_allclose(only_bias, gb, rtol=1e-12)

    def test_conv_transpose_matches_scatter_and_backward(self):
        x = self.rng.standard_normal((2, 4, 6))
        w = self.rng.standard_normal((4, 3, 3))  # [C_in, C_out, k]
        b = self.rng.standard_normal(3)
        y = self.convd.conv_transpose(x, w, b, stride=2, padding=1, output_padding=1)
        want = reference_conv_transpose1d(x, w, 2, 1, 1) + b[None, :, None]
        self.assertEqual(y.shape, (2, 3, 12))
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
        # conv_transpose is conv's grad_input for the same parameters (weight read as [C_out, C_in, k] there)
        (gx,) = self.convd.conv_backward(np.zeros((2, 3, 12)), w, x, grads=["input"], stride=2, padding=1)
        np.testing.assert_allclose(y - b[None, :, None], gx, rtol=1e-12, atol=1e-12)
        # float32 in, float32 out
        y32 = self.convd.conv_transpose(x.astype(np.float32), w.astype(np.float32), stride=2)
        self.assertEqual(y32.dtype, np.float32)
        np.testing.assert_allclose(y32, reference_conv_transpose1d(x, w, 2, 0, 0), rtol=1e-4, atol=1e-4)
        # output_size picks the output_padding (PyTorch's ConvTranspose1d(x, output_size)); "same" is ONNX's SAME_UPPER
        np.testing.assert_array_equal(self.convd.conv_transpose(x, w, b, stride=2, padding=1, output_size=[12]), y)
        same = self.convd.conv_transpose(x, w, stride=2, padding="same")
        np.testing.assert_allclose(same, reference_conv_transpose1d(x, w, 2, 0, 0)[..., :12], rtol=1e-12, atol=1e-12)

    def test_conv_transpose_backward_is_conv_with_roles_swapped(self):
        x = self.rng.standard_normal((2, 4, 6))
        w = self.rng.standard_normal((4, 3, 3))  # [C_in, C_out, k]
        g = self.rng.standard_normal((2, 3, 12))  # the output's shape: (6 - 1) * 2 - 2 + 3 + 1
        params = dict(stride=2, padding=1)
        gx, gw, gb = self.convd.conv_transpose_backward(x, w, g, output_padding=1, **params)
        # grad_input is conv(grad_output, w); grad_weight conv's grad_weight at input grad_output, grad_output x
        np.testing.assert_allclose(gx, self.convd.conv_forward(g, w, padding=[[1, 0]], stride=2), rtol=1e-12, atol=1e-12)
        (want_gw,) = self.convd.conv_backward(g, w, x, grads=["weight"], padding=[[1, 0]], stride=2)
        np.testing.assert_allclose(gw, want_gw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, g.sum(axis=(0, 2)), rtol=1e-12)
        (only_bias,) = self.convd.conv_transpose_backward(x, w, g, grads="bias", output_padding=1, **params)
        np.testing.assert_allclose(only_bias, gb, rtol=1e-12)

    def test_unfold_is_the_sliding_windows_and_fold_its_adjoint(self):
        x = self.rng.standard_normal((2, 3, 5, 4))
        cols = self.convd.unfold(x, [2, 3], padding=1)
        # PyTorch's layout: [N, C * kH * kW, L], rows channel-major, blocks row-major
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        view = np.lib.stride_tricks.sliding_window_view(xp, (2, 3), axis=(2, 3))  # [N, C, 6, 4, 2, 3]
        want = view.transpose(0, 1, 4, 5, 2, 3).reshape(2, 3 * 6, 24)
        np.testing.assert_array_equal(cols, want)
        c = self.rng.standard_normal(cols.shape)
        image = self.convd.fold(c, [5, 4], [2, 3], padding=1)
        self.assertAlmostEqual(np.vdot(cols, c), np.vdot(x, image), places=9)
        # channels_last images: the same columns
        np.testing.assert_array_equal(self.convd.unfold(x.transpose(0, 2, 3, 1), [2, 3], padding=1, layout="NHWC"), cols)

    def test_pool_forward_max_and_avg_match_numpy(self):
        x = self.rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
        got = self.convd.pool_forward(x, "max", 2)
        self.assertEqual(got.dtype, np.float32)
        np.testing.assert_array_equal(got, reference_pool2d(x, "max", 2, 2, 0))
        got = self.convd.pool_forward(x, "max", 3, stride=2, padding=1)
        np.testing.assert_array_equal(got, reference_pool2d(x, "max", 3, 2, 1))
        x64 = x.astype(np.float64)
        got = self.convd.pool_forward(x64, "avg", 3, stride=1, padding=1)
        self.assertEqual(got.dtype, np.float64)
        np.testing.assert_allclose(got, reference_pool2d(x64, "avg", 3, 1, 1), rtol=1e-12)
        got = self.convd.pool_forward(x64, "avg", 3, stride=1, padding=1, count_include_pad=False)
        np.testing.assert_allclose(got, reference_pool2d(x64, "avg", 3, 1, 1, count_include_pad=False), rtol=1e-12)
        # channels_last gives the same numbers, NHWC
        got = self.convd.pool_forward(x.transpose(0, 2, 3, 1), "max", 2, layout="channels_last")
        np.testing.assert_array_equal(got, reference_pool2d(x, "max", 2, 2, 0).transpose(0, 2, 3, 1))

    def test_pool_forward_return_indices_and_ceil_mode(self):
        x = np.arange(1, 17, dtype=np.float64).reshape(1, 1, 4, 4)
        y, indices = self.convd.pool_forward(x, "max", 3, stride=2, ceil_mode=True, return_indices=True)
        np.testing.assert_array_equal(y, [[[[11, 12], [15, 16]]]])
        self.assertEqual(indices.dtype, np.int64)
        np.testing.assert_array_equal(indices, [[[[10, 11], [14, 15]]]])
        # storage_order=1 (ONNX's): column-major, h + 4 * w
        _, indices = self.convd.pool_forward(x, "max", 3, stride=2, ceil_mode=True, return_indices=True, storage_order=1)
        np.testing.assert_array_equal(indices, [[[[10, 14], [11, 15]]]])

    def test_pool_forward_lp_abs(self):
        x = np.array([[[-3.0, 4.0, -5.0, 6.0, -8.0, 10.0]]])
        # lp_abs=True: ONNX LpPool's (sum |x|^3)^(1/3); PyTorch's form sums x^3 (-88: NaN)
        np.testing.assert_allclose(self.convd.pool_forward(x, "lp", 3, p=3, lp_abs=True), [[[6, 12]]], rtol=1e-12)
        torch = self.convd.pool_forward(x, "lp", 3, p=3)
        self.assertTrue(np.isnan(torch[0, 0, 0]))
        np.testing.assert_allclose(torch[0, 0, 1], 704 ** (1 / 3), rtol=1e-12)

    def test_adaptive_and_global_pooling(self):
        x = np.arange(1, 6, dtype=np.float64).reshape(1, 1, 5)
        np.testing.assert_allclose(self.convd.adaptive_pool_forward(x, "avg", 3), [[[1.5, 3, 4.5]]])
        y, indices = self.convd.adaptive_pool_forward(x, "max", 1, return_indices=True)
        np.testing.assert_array_equal(y, [[[5]]])
        np.testing.assert_array_equal(indices, [[[4]]])
        gx = self.convd.adaptive_pool_backward(x, np.array([[[2.0, 3.0, 4.0]]]), "avg", 3)
        np.testing.assert_allclose(gx, [[[1, 2, 1, 3, 2]]])

    def test_pool_backward_max_routes_and_avg_is_the_adjoint(self):
        x = self.rng.permutation(2 * 6 * 6).reshape(1, 2, 6, 6).astype(np.float64)  # distinct values: one max per window
        g = self.rng.standard_normal((1, 2, 3, 3))
        gx = self.convd.pool_backward(x, g, "max", 2)
        self.assertEqual(gx.shape, x.shape)
        want = np.zeros_like(x)
        for c in range(2):
            for i in range(3):
                for j in range(3):
                    window = x[0, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                    u, v = np.unravel_index(window.argmax(), window.shape)
                    want[0, c, 2 * i + u, 2 * j + v] = g[0, c, i, j]
        np.testing.assert_array_equal(gx, want)
        # avg pooling is linear: <pool_backward(g), v> = <g, pool_forward(v)>
        g = self.rng.standard_normal((1, 2, 6, 6))
        gx = self.convd.pool_backward(x, g, "avg", 3, stride=1, padding=1, count_include_pad=False)
        v = self.rng.standard_normal(x.shape)
        forward = self.convd.pool_forward(v, "avg", 3, stride=1, padding=1, count_include_pad=False)
        self.assertAlmostEqual(np.vdot(gx, v), np.vdot(g, forward), places=9)

    def test_non_finite_values_round_trip(self):
        for dtype in (np.float32, np.float64):
            x = np.array([[[1.5, np.nan, np.inf, -np.inf, -0.0, 3e-38]]], dtype=dtype)
            y = self.convd.pool_forward(x, "max", 1)  # kernel 1: the identity
            self.assertEqual(y.dtype, dtype)
            np.testing.assert_array_equal(y, x)
            self.assertTrue(np.signbit(y[0, 0, 4]))

    def test_float16_is_the_float32_answer_rounded_once(self):
        x = self.rng.standard_normal((2, 3, 9, 8)).astype(np.float16)
        w = self.rng.standard_normal((4, 3, 3, 3)).astype(np.float16)
        y = self.convd.conv_forward(x, w, stride=2, padding=1)  # float16 operands: a float16 request
        self.assertEqual(y.dtype, np.float16)
        y32 = self.convd.conv_forward(x.astype(np.float32), w.astype(np.float32), stride=2, padding=1)
        # numpy's float32 -> float16 cast rounds to nearest even: an independent reference
        np.testing.assert_array_equal(y, y32.astype(np.float16))
        self.assertFalse(np.array_equal(y.astype(np.float32), y32), "the results needed rounding")
        # float32 operands sent as float16 are rounded first
        gx, = self.convd.conv_backward(x.astype(np.float32) + 1e-4, w, np.ones(y.shape, np.float16),
                                       grads=["input"], stride=2, padding=1, dtype="float16")
        self.assertEqual((gx.dtype, gx.shape), (np.float16, x.shape))

    def test_bfloat16_is_the_float32_answer_rounded_once(self):
        x = self.rng.standard_normal((1, 2, 7)).astype(np.float32)
        w = self.rng.standard_normal((3, 2, 3)).astype(np.float32)
        y = self.convd.conv_forward(x, w, dtype="bfloat16")
        self.assertEqual((y.dtype, y.shape), (np.float32, (1, 3, 5)))  # bfloat16 values, as float32
        y32 = self.convd.conv_forward(convd_client.round_bfloat16(x), convd_client.round_bfloat16(w))
        np.testing.assert_array_equal(y, convd_client.round_bfloat16(y32))
        self.assertFalse(np.array_equal(y, y32), "the results needed rounding")
        # NaN and infinities keep their meaning
        special = np.array([[[np.nan, np.inf, -np.inf, np.finfo(np.float32).max, -0.0]]], dtype=np.float32)
        got = self.convd.pool_forward(special, "max", 1, dtype="bfloat16")
        np.testing.assert_array_equal(got, [[[np.nan, np.inf, -np.inf, np.inf, -0.0]]])

    def test_an_empty_batch_answers_empty_and_zero_gradients(self):
        x = np.zeros((0, 3, 7), np.float32)
        w = self.rng.standard_normal((4, 3, 3)).astype(np.float32)
        y = self.convd.conv_forward(x, w, stride=2)
        self.assertEqual((y.dtype, y.shape), (np.float32, (0, 4, 3)))
        gx, gw, gb = self.convd.conv_backward(x, w, y, bias=np.ones(4, np.float32), stride=2)
        self.assertEqual((gx.shape, gw.shape, gb.shape), ((0, 3, 7), (4, 3, 3), (4,)))
        self.assertFalse(gw.any() or gb.any())

    def test_errors_are_problems(self):
        with self.assertRaises(ConvdError) as caught:
            self.convd.conv_forward(np.ones((1, 4, 5, 5), np.float32), np.ones((1, 3, 2, 2), np.float32))
        err = caught.exception
        self.assertIsInstance(err, Exception)
        self.assertEqual(err.status, 400)
        self.assertEqual(err.problem["status"], 400)
        self.assertEqual(err.type, "urn:convd:problem:invalid-geometry")
        self.assertIsInstance(err.title, str)
        self.assertIn("weight.shape[1]", err.detail)
        self.assertIn("weight.shape[1]", [e["path"] for e in err.errors])
        self.assertIn("problem+json", err.headers["content-type"])
        self.assertTrue(str(err).startswith("convd answered 400: "), str(err))
        copy = pickle.loads(pickle.dumps(err))
        self.assertEqual((copy.status, copy.problem), (err.status, err.problem))
        # every endpoint reports through the same exception
        with self.assertRaises(ConvdError) as caught:
            self.convd.pool_forward(np.ones((1, 1, 4)), "max", 2, padding=2)
        self.assertEqual(caught.exception.status, 400)
        self.assertTrue(any(e["path"].startswith("padding") for e in caught.exception.errors), caught.exception.errors)
        with self.assertRaises(ConvdError) as caught:
            self.convd.pool_backward(np.ones((1, 1, 4)), np.ones((1, 1, 3)), "avg", 2)
        self.assertEqual(caught.exception.status, 400)
        with self.assertRaises(ConvdError) as caught:
            self.convd.conv_transpose(np.ones((1, 2, 3)), np.ones((2, 1, 2)), stride=2, output_padding=2)
        self.assertEqual(caught.exception.status, 400)
        with self.assertRaises(ConvdError) as caught:
            self.convd.conv_backward(np.ones((1, 1, 4)), np.ones((1, 1, 2)), np.ones((1, 1, 3)), unknown_field=1)
        self.assertEqual(caught.exception.type, "urn:convd:problem:schema-violation")


class MsgpackWire(Endpoints, unittest.TestCase):
    wire = "msgpack"


class JsonWire(Endpoints, unittest.TestCase):
    wire = "json"


class ClientBehaviour(unittest.TestCase):
    def test_url_from_convd_url(self):
        with mock.patch.dict(os.environ, {"CONVD_URL": URL + "/"}):
            self.assertEqual(Client().url, URL)
            # the module-level functions read it at call time
            y = convd_client.conv_forward(np.ones((1, 1, 3)), np.ones((1, 1, 2)))
        np.testing.assert_array_equal(y, [[[2.0, 2.0]]])
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertEqual(Client().url, convd_client.DEFAULT_URL)
        self.assertEqual(Client("http://example.invalid:1/").url, "http://example.invalid:1")

    def test_module_functions_cover_every_endpoint(self):
        x = np.arange(8, dtype=np.float32).reshape(1, 1, 8)
        w = np.ones((1, 1, 2), np.float32)
        for wire in convd_client.WIRES:
            y = convd_client.conv_forward(x, w, url=URL, wire=wire)
            np.testing.assert_array_equal(y, [[[1, 3, 5, 7, 9, 11, 13]]])
            (gw,) = convd_client.conv_backward(x, w, np.ones_like(y), grads=["weight"], url=URL, wire=wire)
            np.testing.assert_array_equal(gw, [[[21, 28]]])
            t = convd_client.conv_transpose(np.ones((1, 1, 2), np.float32), w, url=URL, wire=wire)
            np.testing.assert_array_equal(t, [[[1, 2, 1]]])
            (tg,) = convd_client.conv_transpose_backward(np.ones((1, 1, 2), np.float32), w, np.ones_like(t),
                                                         grads=["weight"], url=URL, wire=wire)
            np.testing.assert_array_equal(tg, [[[2, 2]]])
            p = convd_client.pool_forward(x, "avg", 4, url=URL, wire=wire)
            np.testing.assert_array_equal(p, [[[1.5, 5.5]]])
            gp = convd_client.pool_backward(x, np.array([[[4.0, 8.0]]], np.float32), "avg", 4, url=URL, wire=wire)
            np.testing.assert_array_equal(gp, [[[1, 1, 1, 1, 2, 2, 2, 2]]])
            u = convd_client.unfold(x, 2, stride=2, url=URL, wire=wire)
            np.testing.assert_array_equal(u, [[[0, 2, 4, 6], [1, 3, 5, 7]]])
            f = convd_client.fold(u, [8], 2, stride=2, url=URL, wire=wire)
            np.testing.assert_array_equal(f, x)

    def test_dtypes(self):
        convd = Client(URL)
        # one float64 operand makes the request float64; other dtypes travel as float32
        mixed = convd.conv_forward(np.ones((1, 1, 3), np.float32), np.ones((1, 1, 2), np.float64))
        self.assertEqual(mixed.dtype, np.float64)
        ints = convd.conv_forward(np.ones((1, 1, 3), np.int64), np.ones((1, 1, 2), np.int32))
        self.assertEqual(ints.dtype, np.float32)
        # big-endian arrays are sent little-endian, results come back native and writable
        big = convd.conv_forward(np.ones((1, 1, 3), ">f8"), np.ones((1, 1, 2), ">f8"), stride=np.int64(1))
        self.assertEqual(big.dtype, np.float64)
        self.assertTrue(big.flags.writeable)
        big[0, 0, 0] = 5
        # float16 operands only make a float16 request; dtype= picks any of the service's
        self.assertEqual(convd.conv_forward(np.ones((1, 1, 3), np.float16), np.ones((1, 1, 2), np.float16)).dtype,
                         np.float16)
        self.assertEqual(convd.conv_forward(np.ones((1, 1, 3), np.float16), np.ones((1, 1, 2), np.float32)).dtype,
                         np.float32)
        self.assertEqual(convd.conv_forward(np.ones((1, 1, 3)), np.ones((1, 1, 2)), dtype=np.float16).dtype, np.float16)
        with self.assertRaises(ValueError):
            convd.conv_forward(np.ones((1, 1, 3)), np.ones((1, 1, 2)), dtype="float8")

    def test_round_bfloat16_is_round_to_nearest_even(self):
        r = convd_client.round_bfloat16
        # ties go to the even neighbour; just past a tie, to the nearer one
        np.testing.assert_array_equal(r([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20]),
                                      [1, 1 + 2 ** -6, 1 + 2 ** -7])
        # float32's largest rounds past bfloat16's to infinity; subnormals are kept
        np.testing.assert_array_equal(r([3.4028234663852886e38, 2.0 ** -133, -(2.0 ** -133)]),
                                      [np.inf, 2.0 ** -133, -(2.0 ** -133)])
        self.assertTrue(np.isnan(r([np.nan]))[0])
        # every bfloat16 value (every float32 with its low 16 bits clear) rounds to itself
        values = (np.arange(0x10000, dtype=np.uint32) << 16).view(np.float32)
        finite = np.isfinite(values)
        np.testing.assert_array_equal(r(values)[finite], values[finite])

    def test_bad_wire_is_a_value_error(self):
        with self.assertRaises(ValueError):
            Client(URL, wire="xml")
        with self.assertRaises(ValueError):
            Client(URL).conv_forward(np.ones((1, 1, 3)), np.ones((1, 1, 2)), wire="xml")


if __name__ == "__main__":
    unittest.main()
