/**
 * convd from TypeScript with msgpackr: typed arrays go out as msgpack bin, results come back
 * as bin and are read as Float32Array.
 *
 *   npm run build && node dist/examples/typescript/client.js [http://127.0.0.1:8080]
 *
 * A 3x3 edge filter over a 4x4 image with "same" padding, checked against a direct loop.
 */
import { Packr, Unpackr } from 'msgpackr';

const url = process.argv[2] ?? 'http://127.0.0.1:8080';
// useRecords: false keeps plain msgpack maps, readable by any msgpack library
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

interface Tensor {
  dtype: 'float32';
  shape: number[];
  data: Uint8Array;
}

const tensor = (shape: number[], values: Float32Array): Tensor => ({ dtype: 'float32', shape, data: new Uint8Array(values.buffer) });

/** A bin may sit at any offset of the response: copy before viewing it as float32. */
const floats = (t: Tensor) => new Float32Array(Uint8Array.from(t.data).buffer);

const image = Float32Array.from({ length: 16 }, (_, i) => i % 5);
const kernel = Float32Array.of(0, -1, 0, -1, 4, -1, 0, -1, 0);

const response = await fetch(`${url}/conv/forward`, {
  method: 'POST',
  headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
  // a copy: packr.pack returns a view into a buffer it reuses
  body: Uint8Array.from(packr.pack({ input: tensor([1, 1, 4, 4], image), weight: tensor([1, 1, 3, 3], kernel), padding: 'same' })),
});
if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`); // problem+json
const { output } = unpackr.unpack(new Uint8Array(await response.arrayBuffer())) as { output: Tensor };
const got = floats(output);

const at = (r: number, c: number) => (r < 0 || r > 3 || c < 0 || c > 3 ? 0 : image[r * 4 + c]);
for (let r = 0; r < 4; r++) {
  for (let c = 0; c < 4; c++) {
    let want = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) want += kernel[i * 3 + j] * at(r + i - 1, c + j - 1);
    if (got[r * 4 + c] !== want) throw new Error(`output[${r}][${c}] is ${got[r * 4 + c]}, expected ${want}`);
  }
}
console.log(`typescript client: output ${JSON.stringify(output.shape)} matches the direct loop`);
