/* Cubic convolution interpolation (Keys), shared by Resize and GridSample. */
#ifndef ONYX_CUBIC_H
#define ONYX_CUBIC_H

/* The weights of the taps floor(x) - 1 .. floor(x) + 2 for t = x - floor(x), with the
 * coefficient A (-0.75 as in PyTorch, -0.5 as in TensorFlow). */
static inline void cubic_weights(double t, double A, double *w)
{
    double s = 1 + t, u = 1 - t, v = 2 - t;
    w[0] = ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * u - (A + 3)) * u * u + 1;
    w[3] = ((A * v - 5 * A) * v + 8 * A) * v - 4 * A;
}

#endif
