#if canImport(Glibc)
import Glibc
#endif
import Kernels

extension EchoActivation {
    /// Applies the activation in place, as PyTorch's modules define it: GELU exact (`x·(1 + erf(x/√2))/2`),
    /// LeakyReLU slope 0.01, ELU α 1.
    public func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .gelu: VectorOps.gelu(x, count: count)
        case .relu: for i in 0..<count { x[i] = max(x[i], 0) }
        case .sigmoid: for i in 0..<count { x[i] = 1 / (1 + expf(-x[i])) }
        case .tanh: for i in 0..<count { x[i] = tanhf(x[i]) }
        case .leakyReLU: for i in 0..<count where x[i] < 0 { x[i] *= 0.01 }
        case .elu: for i in 0..<count where x[i] < 0 { x[i] = expm1f(x[i]) }
        }
    }
}
