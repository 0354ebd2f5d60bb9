"""PyTorch peer of the convd bench, driven by bench/peers/torch.ts as a child process.

Messages both ways are msgpack maps, each framed by its byte length (4 bytes, little endian),
on stdin (requests) and stdout (replies). Requests, by "cmd":

  hello                       -> versions and configuration
  prepare id op dtype layout  -> {}   (operands as raw bytes in convd's layout; see prepare())
  run id                      -> {"seconds": s}   one op, timed here with perf_counter
  result id                   -> {"data": bytes}  the op's output in convd's layout
  dispose id                  -> {}

A failed request answers {"error": message}. The op runs under torch.no_grad():
forward is torch.nn.functional.conv{1,2,3}d, grad_input and grad_weight are
aten::convolution_backward with one output of its mask, the kernel autograd calls.

  /usr/bin/python3 bench/peers/torch_peer.py [--threads N]
"""

import argparse
import re
import struct
import sys
import time

import msgpack

try:
    import torch
except ImportError as e:  # told to the bench, which skips the peer
    torch = None
    IMPORT_ERROR = str(e)

DTYPES = ("float32", "float64")


def channels_last_format(d):
    return torch.channels_last if d == 2 else torch.channels_last_3d


class Conv:
    """One prepared (problem, op): operands as torch tensors in the layout convd's request names."""

    def __init__(self, m):
        d = len(m["stride"])
        if m["dtype"] not in DTYPES:
            raise ValueError(f"dtype {m['dtype']!r} is not one of {DTYPES}")
        dtype = getattr(torch, m["dtype"])
        self.op = m["op"]
        self.last = m["layout"] == "channels_last"
        if self.last and d not in (2, 3):
            raise ValueError("channels_last needs a 2-D or 3-D convolution")
        self.d = d
        self.stride = list(m["stride"])
        self.padding = list(m["padding"])
        self.dilation = list(m["dilation"])
        self.groups = m["groups"]

        def tensor(key, shape):
            return torch.frombuffer(bytearray(m[key]), dtype=dtype).reshape(shape)

        # convd's channels_last: input [N, *sp, C], weight [*k, C_in/groups, C_out]; torch's
        # channels_last memory format holds the same bytes for the input under NC*sp indexing,
        # and weights as [C_out, *k, C_in/groups] (converted here, outside the clock).
        self.x = self.activation(tensor("x", m["input"]))
        self.w = self.weight(tensor("w", m["weight"]))
        self.dy = self.activation(tensor("dy", m["output"]))
        conv = [None, torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d][d]
        if self.op == "forward":
            self.fn = lambda: conv(self.x, self.w, None, self.stride, self.padding, self.dilation, self.groups)
        else:
            mask = [self.op in ("grad_input", "all"), self.op in ("grad_weight", "all"), False]
            self.fn = lambda: torch.ops.aten.convolution_backward(
                self.dy, self.x, self.w, None, self.stride, self.padding, self.dilation,
                False, [0] * d, self.groups, mask,
            )

    def activation(self, t):
        if not self.last:
            return t.contiguous()
        d = self.d
        return t.permute(0, d + 1, *range(1, d + 1))  # already channels_last in memory

    def weight(self, t):
        if not self.last:
            return t.contiguous()
        d = self.d
        return t.permute(d + 1, d, *range(d)).contiguous(memory_format=channels_last_format(self.d))

    def run(self):
        with torch.no_grad():
            t0 = time.perf_counter()
            out = self.fn()
            seconds = time.perf_counter() - t0
        del out
        return seconds

    def result(self):
        with torch.no_grad():
            out = self.fn()
        d = self.d
        if self.op == "forward":
            t = out
        elif self.op == "grad_input":
            t = out[0]
        elif self.op == "grad_weight":
            t = out[1]
        else:
            raise ValueError("result of 'all' is not defined")
        if self.last:
            if self.op == "grad_weight":
                t = t.permute(*range(2, d + 2), 1, 0)
            else:
                t = t.permute(0, *range(2, d + 2), 1)
        return t.contiguous().numpy().tobytes()


def hello():
    return {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "blas": (re.search(r"BLAS_INFO=([^,]+)", torch.__config__.show()) or [None, "?"])[1],
    }


def read_message(stream):
    header = stream.read(4)
    if len(header) < 4:
        return None
    (length,) = struct.unpack("<I", header)
    return msgpack.unpackb(stream.read(length), raw=False)


def write_message(stream, message):
    body = msgpack.packb(message, use_bin_type=True)
    stream.write(struct.pack("<I", len(body)) + body)
    stream.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    if torch is None:
        write_message(stdout, {"error": f"no torch: {IMPORT_ERROR}"})
        return
    torch.set_num_threads(args.threads)
    prepared = {}
    while True:
        m = read_message(stdin)
        if m is None:
            return
        try:
            cmd = m["cmd"]
            if cmd == "hello":
                reply = hello()
            elif cmd == "prepare":
                prepared[m["id"]] = Conv(m)
                reply = {}
            elif cmd == "run":
                reply = {"seconds": prepared[m["id"]].run()}
            elif cmd == "result":
                reply = {"data": prepared[m["id"]].result()}
            elif cmd == "dispose":
                prepared.pop(m["id"], None)
                reply = {}
            else:
                raise ValueError(f"unknown cmd {cmd!r}")
        except Exception as e:  # reported to the bench as this request's error
            reply = {"error": f"{type(e).__name__}: {e}"}
        write_message(stdout, reply)


if __name__ == "__main__":
    main()
