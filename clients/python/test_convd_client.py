"""convd_client against a live server: CONVD_URL=http://127.0.0.1:PORT python3 -m unittest -v test_convd_client

The forward is checked against a numpy reference; the backward against the forward through
the adjoint identities <grad_input, dx> = <g, conv(dx, w)> and <grad_weight, dw> = <g, conv(x, dw)>.
"""
import os
import unittest

import numpy as np

from convd_client import ConvdError, conv_backward, conv_forward

URL = os.environ.get("CONVD_URL")


def reference_conv2d(x, w, b, stride, pad):
    """NCHW, zero padding, groups 1: one strided window per output position."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    view = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    y = np.einsum("ncijhw,ochw->noij", view, w)
    return y if b is None else y + b[None, :, None, None]


@unittest.skipUnless(URL, "set CONVD_URL to a running convd")
class ConvdClientTest(unittest.TestCase):
    def setUp(self):
        self.rng = np.random.default_rng(7)

    def test_forward_float32_matches_numpy(self):
        x = self.rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
        w = self.rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        b = self.rng.standard_normal(4).astype(np.float32)
        y = conv_forward(x, w, b, stride=2, padding=1, url=URL)
        self.assertEqual(y.dtype, np.float32)
        self.assertEqual(y.shape, (2, 4, 5, 4))
        want = reference_conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, 1)
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)

    def test_forward_float64_and_channels_last(self):
        x = self.rng.standard_normal((1, 2, 7, 6))
        w = self.rng.standard_normal((3, 2, 3, 3))
        y = conv_forward(x, w, padding="same", url=URL)
        self.assertEqual(y.dtype, np.float64)
        np.testing.assert_allclose(y, reference_conv2d(x, w, None, 1, 1), rtol=1e-12, atol=1e-12)
        # NHWC input and HWIO weight give the same numbers, NHWC out
        y_last = conv_forward(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), padding="same",
                              layout="channels_last", url=URL)
        np.testing.assert_allclose(y_last, y.transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)

    def test_backward_is_the_adjoint_of_forward(self):
        x = self.rng.standard_normal((2, 4, 8, 7))
        w = self.rng.standard_normal((6, 2, 3, 2))  # groups 2
        params = dict(stride=(2, 1), padding=[[1, 0], [0, 1]], dilation=1, groups=2, url=URL)
        y = conv_forward(x, w, **params)
        g = self.rng.standard_normal(y.shape)
        gx, gw, gb = conv_backward(x, w, g, **params)
        self.assertEqual((gx.shape, gw.shape, gb.shape), (x.shape, w.shape, (6,)))
        dx = self.rng.standard_normal(x.shape)
        dw = self.rng.standard_normal(w.shape)
        self.assertAlmostEqual(np.vdot(gx, dx), np.vdot(g, conv_forward(dx, w, **params)), places=9)
        self.assertAlmostEqual(np.vdot(gw, dw), np.vdot(g, conv_forward(x, dw, **params)), places=9)
        np.testing.assert_allclose(gb, g.sum(axis=(0, 2, 3)), rtol=1e-12)
        # only the requested gradients, in the requested order
        (only_weight,) = conv_backward(x, w, g, grads=["weight"], **params)
        np.testing.assert_allclose(only_weight, gw, rtol=1e-12)

    def test_error_is_a_problem(self):
        with self.assertRaises(ConvdError) as caught:
            conv_forward(np.ones((1, 4, 5, 5), np.float32), np.ones((1, 3, 2, 2), np.float32), url=URL)
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("weight.shape[1]", caught.exception.problem["detail"])


if __name__ == "__main__":
    unittest.main()
