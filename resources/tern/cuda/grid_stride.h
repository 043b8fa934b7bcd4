// The grid-stride loop of the elementwise kernels (elementwise.cu, swiglu.cu, adamw.cu): i runs over [0, n)
// in steps of the whole grid, so any grid size covers any n.
#ifndef TERN_GRID_STRIDE_H
#define TERN_GRID_STRIDE_H

#define GRID_STRIDE(i, n) \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)blockDim.x * gridDim.x)

#endif
