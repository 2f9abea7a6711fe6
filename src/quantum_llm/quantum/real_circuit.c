/* Probabilities of a real circuit (RY rotations and CNOTs) from |0...0>, and their adjoint gradient.
 *
 * Written by hand because at QPA's size (7 qubits, 128 amplitudes, 56 rotations) the work is a
 * few thousand multiply-adds, where PyTorch's autograd through dozens of small ops spends
 * ~0.5 ms on dispatch (torch_sim.py's small path). Loaded through ctypes by c_sim.py.
 *
 * Gates, in circuit order: kind[g] = 0 for RY(angle) on qubit a[g], angle = offset[g] +
 * coeff[g] * theta[sym[g]] (sym[g] < 0: a constant angle); kind[g] = 1 for CNOT with control
 * a[g] and target b[g]. Qubit 0 is the most significant bit of a basis index, as in Cirq.
 * RY(t) = [[cos t/2, -sin t/2], [sin t/2, cos t/2]]. Double precision throughout.
 *
 * Gradient by the adjoint method: from the final state psi and lam = dL/dpsi = 2 psi dL/dp, the
 * gates are undone one by one (psi <- G^T psi, exact for these orthogonal gates) and each
 * rotation's angle gets lam . (dRY/dt psi_before); then lam <- G^T lam. No per-gate states are
 * stored.
 */
#include <math.h>
#include <stdint.h>

static void rotate(double *psi, int n, int q, double c, double s)
{
    const int64_t stride = (int64_t)1 << (n - 1 - q), N = (int64_t)1 << n;
    for (int64_t base = 0; base < N; base += 2 * stride)
        for (int64_t i = base; i < base + stride; i++) {
            double a0 = psi[i], a1 = psi[i + stride];
            psi[i] = c * a0 - s * a1;
            psi[i + stride] = s * a0 + c * a1;
        }
}

static void cnot(double *psi, int n, int control, int target)
{
    const int64_t cb = (int64_t)1 << (n - 1 - control), tb = (int64_t)1 << (n - 1 - target);
    const int64_t N = (int64_t)1 << n;
    for (int64_t i = 0; i < N; i++)
        if ((i & cb) && !(i & tb)) {
            double t = psi[i];
            psi[i] = psi[i | tb];
            psi[i | tb] = t;
        }
}

static double angle(int g, const int32_t *sym, const double *coeff, const double *offset, const double *theta)
{
    return offset[g] + (sym[g] >= 0 ? coeff[g] * theta[sym[g]] : 0.0);
}

/* psi (2^n): the final state; probs (2^n): its squares. */
void real_circuit_forward(int n, int ngates, const int32_t *kind, const int32_t *a, const int32_t *b,
                          const int32_t *sym, const double *coeff, const double *offset, const double *theta,
                          double *psi, double *probs)
{
    const int64_t N = (int64_t)1 << n;
    for (int64_t i = 0; i < N; i++)
        psi[i] = 0.0;
    psi[0] = 1.0;
    for (int g = 0; g < ngates; g++) {
        if (kind[g] == 0) {
            double t = 0.5 * angle(g, sym, coeff, offset, theta);
            rotate(psi, n, a[g], cos(t), sin(t));
        } else {
            cnot(psi, n, a[g], b[g]);
        }
    }
    for (int64_t i = 0; i < N; i++)
        probs[i] = psi[i] * psi[i];
}

/* psi: the forward's final state (overwritten: undone back to |0...0>); gprobs: dL/dp; lam:
 * 2^n of workspace; gtheta (one per symbol): dL/dtheta is added to it. */
void real_circuit_backward(int n, int ngates, const int32_t *kind, const int32_t *a, const int32_t *b,
                           const int32_t *sym, const double *coeff, const double *offset, const double *theta,
                           double *psi, const double *gprobs, double *lam, double *gtheta)
{
    const int64_t N = (int64_t)1 << n;
    for (int64_t i = 0; i < N; i++)
        lam[i] = 2.0 * psi[i] * gprobs[i];
    for (int g = ngates - 1; g >= 0; g--) {
        if (kind[g] == 1) {
            cnot(psi, n, a[g], b[g]);
            cnot(lam, n, a[g], b[g]);
            continue;
        }
        double t = 0.5 * angle(g, sym, coeff, offset, theta), c = cos(t), s = sin(t);
        rotate(psi, n, a[g], c, -s);                  /* the state before this gate */
        if (sym[g] >= 0) {
            /* dRY/dangle = 1/2 [[-s, -c], [c, -s]] */
            const int64_t stride = (int64_t)1 << (n - 1 - a[g]);
            double acc = 0.0;
            for (int64_t base = 0; base < N; base += 2 * stride)
                for (int64_t i = base; i < base + stride; i++) {
                    double a0 = psi[i], a1 = psi[i + stride];
                    acc += lam[i] * (-s * a0 - c * a1) + lam[i + stride] * (c * a0 - s * a1);
                }
            gtheta[sym[g]] += 0.5 * coeff[g] * acc;
        }
        rotate(lam, n, a[g], c, -s);
    }
}
