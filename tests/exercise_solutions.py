"""Reference solutions to the notebooks' exercises, and a known-wrong answer to each.

Each entry is the source a student would put in place of the `answer = ...` line of the
exercise's cell (tests/testing/test_exercises.py substitutes it and runs the cell). The numbers are
worked by hand (the formulas are written out), not copied from the engine: the checkers
compare them with the engine's own results. Kept out of the notebooks so that CI injects them.
"""

from __future__ import annotations

#: The correct engine a student might write: micrograd's design with `+=` everywhere and an
#: iterative topological sort (no recursion), gradients of interior nodes reset per pass.
REFERENCE_ENGINE = '''
import math


class MyValue:
    def __init__(self, data, _parents=()):
        self.data = float(data)
        self.grad = 0.0
        self._parents = _parents      # a tuple: a + a keeps both edges
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, MyValue) else MyValue(other)
        out = MyValue(self.data + other.data, (self, other))
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, MyValue) else MyValue(other)
        out = MyValue(self.data * other.data, (self, other))
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = MyValue(t, (self,))
        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                order.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack.append((v, True))
                stack.extend((p, False) for p in v._parents)
        for v in order:
            if v._parents:
                v.grad = 0.0      # interior nodes start from zero; leaves accumulate
        self.grad = 1.0
        for v in reversed(order):
            v._backward()

answer = MyValue
'''

#: Karpathy's lecture bug: `=` instead of `+=`, so a node used twice keeps only one share.
ASSIGNING_ENGINE = REFERENCE_ENGINE.replace(
    "self.grad += out.grad\n            other.grad += out.grad",
    "self.grad = out.grad\n            other.grad = out.grad")
assert ASSIGNING_ENGINE != REFERENCE_ENGINE

SOLUTIONS: dict[str, str] = {
    # n = 2(-3) + 0.5(1) + 6.8813735870195432; dL/dw2 = (1 - tanh(n)^2) x2
    "01.neuron-dw2": "import math\n"
                     "n = 2.0 * -3.0 + 0.5 * 1.0 + 6.8813735870195432\n"
                     "answer = (1 - math.tanh(n) ** 2) * 0.5",
    # max routes to x (3 > -1), mul swaps (z = 2), the + adds 1 more: 2 + 1
    "01.patterns": "answer = 2 * 1 + 1",
    # CS231n: sigma(1) = 0.731, sigma' = 0.197, times x0 = -1
    "01.sigmoid-circuit": "answer = -0.20",
    "02.sigmoid-partial": "import math\n"
                          "def answer(x):\n"
                          "    s = 1 / (1 + math.exp(-x))\n"
                          "    return s * (1 - s)",
    # b2 feeds both outputs: the sum of the two output deltas (o - t) o (1 - o)
    "02.shared-bias": "import math\n"
                      "sig = lambda v: 1 / (1 + math.exp(-v))\n"
                      "h1 = sig(0.15 * 0.05 + 0.20 * 0.10 + 0.35)\n"
                      "h2 = sig(0.25 * 0.05 + 0.30 * 0.10 + 0.35)\n"
                      "o1 = sig(0.40 * h1 + 0.45 * h2 + 0.60)\n"
                      "o2 = sig(0.50 * h1 + 0.55 * h2 + 0.60)\n"
                      "answer = (o1 - 0.01) * o1 * (1 - o1) + (o2 - 0.99) * o2 * (1 - o2)",
    "03.bce-partial": "import math\n"
                      "answer = lambda z: 1 / (1 + math.exp(-z)) - 1",
    # every z_k = w1 p + w2 q - 5 is negative: relu' = 0 on all three points
    "03.dead-relu": "answer = 0.0",
    # p0 - 1 with p = softmax(2, 1, 0.1)
    "04.softmax-ce": "import math\n"
                     "e = [math.exp(2.0), math.exp(1.0), math.exp(0.1)]\n"
                     "answer = e[0] / sum(e) - 1",
    # lse = 1000 + log(1 + e^-1000 + e^-2000) = 1000 (to 400 digits), minus z_1 = 0
    "04.logsumexp": "answer = 1000.0",
    # h_t = tanh(u h_(t-1) + w x_t); dL/du = sum_t dL/da_t h_(t-1)
    "05.rnn-du": "import math\n"
                 "u, w, xs = 0.8, 0.5, (1.0, 0.5, -0.5)\n"
                 "h = [0.0]\n"
                 "for x in xs:\n"
                 "    h.append(math.tanh(u * h[-1] + w * x))\n"
                 "da3 = 1 - h[3] ** 2\n"
                 "da2 = da3 * u * (1 - h[2] ** 2)\n"
                 "da1 = da2 * u * (1 - h[1] ** 2)\n"
                 "answer = da3 * h[2] + da2 * h[1] + da1 * h[0]",
    "05.rnn-dh1": "import math\n"
                  "u, w, xs = 0.8, 0.5, (1.0, 0.5, -0.5)\n"
                  "h = [0.0]\n"
                  "for x in xs:\n"
                  "    h.append(math.tanh(u * h[-1] + w * x))\n"
                  "answer = (1 - h[3] ** 2) * u * (1 - h[2] ** 2) * u",
    "06.softsign-partial": "answer = lambda x: 1 / (1 + abs(x)) ** 2",
    # (relu(1.1e-6) - relu(-0.9e-6)) / 2e-6 = 1.1e-6 / 2e-6
    "06.kink": "answer = 1.1e-6 / 2e-6",
    # f''(x) = 12x^2 - 18x at 1
    "07.second-derivative": "answer = 12 - 18",
    # f''(9/4) = 20.25, f'''(9/4) = 36
    "07.newton-constant": "answer = 36 / (2 * 20.25)",
    # v1' = 0, v2' = v-1 * 1 = 2
    "08.tangent-v4": "answer = 2.0",
    "08.passes": "answer = 1000",
    # a = 2, b = 6, c = 3: dy/da = 3c + b = 15, dy/dx = 30
    "09.diamond": "answer = 2 * (3 * 3 + 6)",
    # 2 * 3c + 2 * (3c + b) with c = 3, b = 6
    "09.naive-total": "answer = 2 * 9 + 2 * (9 + 6)",
    "09.half-batch-mean": "answer = 2",
    "09.engine": REFERENCE_ENGINE,
    # Var U(-a, a) = a^2 / 3 = 2 / (64 + 32)
    "10.xavier-limit": "answer = (3 * 2 / (64 + 32)) ** 0.5",
    "10.he-std": "answer = (2 / 50) ** 0.5",
    # ||(3, 4)|| = 5: scaled by 1/5
    "10.clip": "answer = 3 / 5",
}

#: A plausible mistake for each exercise; its checker must call it wrong.
WRONG: dict[str, str] = {
    "01.neuron-dw2": "answer = 0.5",                        # forgot the tanh' factor
    "01.patterns": "answer = 2",                            # forgot the fan-out to +
    "01.sigmoid-circuit": "answer = 0.39",                  # that is df/dx0
    "02.sigmoid-partial": "import math\n"                   # the printed variant's extra o_j
                          "s = lambda x: 1 / (1 + math.exp(-x))\n"
                          "answer = lambda x: s(x) * (1 - s(x)) * s(x)",
    "02.shared-bias": "import math\n"                       # only the first output's share
                      "sig = lambda v: 1 / (1 + math.exp(-v))\n"
                      "h1 = sig(0.15 * 0.05 + 0.20 * 0.10 + 0.35)\n"
                      "h2 = sig(0.25 * 0.05 + 0.30 * 0.10 + 0.35)\n"
                      "o1 = sig(0.40 * h1 + 0.45 * h2 + 0.60)\n"
                      "answer = (o1 - 0.01) * o1 * (1 - o1)",
    "03.bce-partial": "import math\n"                       # sigma(z), the t = 0 case
                      "answer = lambda z: 1 / (1 + math.exp(-z))",
    "03.dead-relu": "answer = 1.0",
    "04.softmax-ce": "import math\n"                        # p0, without the -1
                     "e = [math.exp(2.0), math.exp(1.0), math.exp(0.1)]\n"
                     "answer = e[0] / sum(e)",
    "04.logsumexp": "answer = float('inf')",                # log(sum(exp)) overflows
    "05.rnn-du": "import math\n"                            # the last step's share only
                 "u, w, xs = 0.8, 0.5, (1.0, 0.5, -0.5)\n"
                 "h = [0.0]\n"
                 "for x in xs:\n"
                 "    h.append(math.tanh(u * h[-1] + w * x))\n"
                 "answer = (1 - h[3] ** 2) * h[2]",
    "05.rnn-dh1": "answer = 0.8 * 0.8",                     # forgot the tanh' factors
    "06.softsign-partial": "answer = lambda x: 1 / (1 + x) ** 2",  # the planted bug
    "06.kink": "answer = 1.0",                              # relu'(x) for x > 0
    "07.second-derivative": "answer = 4 - 9",               # f'(1)
    "07.newton-constant": "answer = 1.3",                   # the old notebook's claim
    "08.tangent-v4": "answer = 5.5",                        # the (1, 0) tangent
    "08.passes": "answer = 1",                              # that is reverse mode
    "09.diamond": "answer = 2 * 3 * 3",                     # only b's path
    "09.naive-total": "answer = 30",                        # the right gradient
    "09.half-batch-mean": "answer = 1",
    "09.engine": ASSIGNING_ENGINE,
    "10.xavier-limit": "answer = (6 / 64) ** 0.5",          # fan_in only
    "10.he-std": "answer = (1 / 50) ** 0.5",                # LeCun's, not He's
    "10.clip": "answer = 1.0",                              # clipped by value, not by norm
}
