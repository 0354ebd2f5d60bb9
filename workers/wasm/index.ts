// AssemblyScript entry of convd's WebAssembly kernels (built by `npm run build:wasm`).
export { sgemm, WORK_BYTES, heapBase } from './sgemm';
export { directForward, directGradInput, directGradWeight, padZeros } from './direct';
