// AssemblyScript entry of convd's WebAssembly kernels (built by `npm run build:wasm`).
export { sgemm, dgemm, WORK_BYTES, heapBase } from './gemm';
export { im2col, col2im, im2col64, col2im64, PLAN_FIELDS } from './im2col';
export { directForward, directGradInput, directGradWeight, padZeros, unpadZeros } from './direct';
