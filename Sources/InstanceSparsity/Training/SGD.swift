/// Stochastic gradient descent with momentum (optionally Nesterov) and decoupled-from-BN weight
/// decay, with PyTorch's update rule: g' = g + wd * w; v = mu * v + g'; step = nesterov ? g' + mu * v : v.
public final class SGD {
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    /// Velocity per parameter, in the order of `parameters`.
    public let velocity: [Tensor]
    private let parameters: [Parameter]
    private let engine: Engine

    /// `engine`: whose threads update the parameters (the network's).
    public init(parameters: [Parameter], momentum: Float, nesterov: Bool, weightDecay: Float, engine: Engine = .default) {
        self.parameters = parameters; self.engine = engine
        self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
        velocity = parameters.map { Tensor(shape: $0.value.shape) }
    }

    public func step(learningRate lr: Float) {
        for (p, v) in zip(parameters, velocity) {
            let w = p.value.data, g = p.grad.data, vel = v.data
            let wd = p.decays ? weightDecay : 0, mu = momentum, nesterov = nesterov
            engine.forEachShare(of: p.value.count, minimumPerShare: 1 << 14) { r, _ in
                for i in r {
                    let grad = g[i] + wd * w[i]
                    vel[i] = mu * vel[i] + grad
                    w[i] -= lr * (nesterov ? grad + mu * vel[i] : vel[i])
                }
            }
        }
    }
}

/// Linear warm-up from lr/steps to lr over `warmupSteps`, then cosine decay to zero.
public struct LearningRateSchedule {
    public let peak: Float
    public let warmupSteps: Int
    public let totalSteps: Int

    public init(peak: Float, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    public func rate(atStep step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = Float(min(step - warmupSteps, span)) / Float(span)
        return peak * 0.5 * (1 + cosf(.pi * progress))
    }
}

#if canImport(Glibc)
import Glibc
#endif
