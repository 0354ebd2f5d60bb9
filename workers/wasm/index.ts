// AssemblyScript entry of convd's WebAssembly kernels (built by `npm run build:wasm`).
export { sgemm, dgemm, WORK_BYTES, heapBase } from './gemm';
export { im2col, col2im, PLAN_FIELDS } from './im2col';
export { directForward, directGradInput, directGradWeight, padZeros, unpadZeros } from './direct';
