"""draw_graph's DOT source, no Graphviz program needed: labels, ids, edges, highlights, the
|grad| colours and legend, module clusters, collapsed views, the node limit, determinism."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import graphviz
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Value, draw_graph, leaky_relu, topo_order
from autograd_lite.testing import expressions
from autograd_lite.viz.render import Graph, assign_clusters, op_symbol

from ..render_helpers import neuron, parse

HIGHLIGHT = "#1f6fd1"


def expected_edges(root: Value) -> Counter:
    """The edges the full drawing must have, from the public structure alone."""
    ids = {v: f"n{i}" for i, v in enumerate(topo_order([root]))}
    want: Counter = Counter()
    for v, nid in ids.items():
        if v.op is not None:
            want[(f"{nid}op", nid)] += 1
            for p in v.parents:
                want[(ids[p], f"{nid}op")] += 1
    return want


# ---- labels, ids, edges -------------------------------------------------------------------------
def test_neuron_nodes_show_label_data_grad_and_ops():
    o, _ = neuron()
    dot = parse(draw_graph(o).source)
    order = topo_order([o])
    value_ids = {f"n{i}" for i in range(len(order))}
    op_ids = {f"n{i}op" for i, v in enumerate(order) if v.op is not None}
    assert set(dot.nodes) == value_ids | op_ids
    for i, v in enumerate(order):
        text = dot.label(f"n{i}")
        assert f"data {v.data:.4f}" in text and f"grad {v.grad:.4f}" in text
        assert text.startswith(v.label) if v.label else text.startswith("data")
        if v.op is not None:
            assert dot.label(f"n{i}op") == {"mul": "*", "add": "+", "tanh": "tanh"}[v.op.name]
    assert Counter((a, b) for a, b, _ in dot.edges) == expected_edges(o)


def test_fields_format_and_direction():
    o, vs = neuron()
    src = draw_graph(o, show=("data",), fmt=".2e", rankdir="TB").source
    dot = parse(src)
    assert "rankdir=TB" in src
    i = topo_order([o]).index(vs["w1"])
    assert dot.label(f"n{i}") == f"data {-3.0:.2e}"
    assert not any("grad" in dot.label(n) or "w1" in dot.label(n) for n in dot.nodes)
    dot = parse(draw_graph(o, show=("grad", "label")).source)
    assert dot.label(f"n{i}") == f"grad {vs['w1'].grad:.4f} | w1"


def test_no_fields_draws_points():
    o, _ = neuron()
    dot = parse(draw_graph(o, show=()).source)
    assert all(dot.nodes[f"n{i}"]["shape"] == "point" for i in range(len(topo_order([o]))))


def test_op_symbols_show_primitive_and_parameters():
    x = Value(1.5)
    assert op_symbol(x**3) == "**3"
    assert op_symbol(2**x) == "2**"
    q = x / Value(2.0)
    if q.op.name == "div":  # division as one primitive
        assert op_symbol(q) == "/"
    else:  # a * b ** -1
        assert op_symbol(q) == "*" and op_symbol(q.parents[1]) == "**-1"
    assert op_symbol(leaky_relu(x, 0.2)) == "leaky_relu(0.2)"
    assert op_symbol(-x) == "neg" and op_symbol(x.sin()) == "sin" and op_symbol(x) == ""


def test_op_symbol_asks_the_primitive_record():
    """A primitive's `symbol` (with `{0}` for its first parameter) is what its node reads."""
    from types import SimpleNamespace

    def node(symbol, params=(), name="myop"):
        op = SimpleNamespace(name=name, symbol=symbol)
        return SimpleNamespace(op=op, params=params)

    assert op_symbol(node("\u2218")) == "\u2218"
    assert op_symbol(node("**{0}", (3.0,))) == "**3"
    assert op_symbol(node("{0}**", (2,))) == "2**"
    assert op_symbol(node("clip", (0.5, 1.0))) == "clip(0.5, 1)"
    user = al.Primitive("myerf", lambda x: x, [lambda out, x: 1.0])  # default symbol: its name
    assert op_symbol(SimpleNamespace(op=user, params=())) == "myerf"


def test_reused_node_keeps_both_edges():
    a = Value(3.0, label="a")
    y = a + a
    dot = parse(draw_graph(y).source)
    assert Counter((s, t) for s, t, _ in dot.edges)[("n0", "n1op")] == 2


def test_labels_are_escaped():
    a = Value(1.0, label='<b>&"x"</b>')
    dot = parse(draw_graph(a * 2).source)
    assert dot.label("n0").startswith('<b>&"x"</b>')


def test_result_is_a_digraph_subclass():
    o, _ = neuron()
    g = draw_graph(o)
    assert isinstance(g, Graph) and isinstance(g, graphviz.Digraph)


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"rankdir": "XY"}, ValueError, "rankdir"),
    ({"show": ("data", "colour")}, ValueError, "colour"),
    ({"fmt": "q"}, ValueError, "fmt"),
    ({"fmt": 4}, TypeError, "fmt"),
    ({"collapse": "neuron"}, ValueError, "modules"),
    ({"collapse": "block", "modules": object()}, ValueError, "collapse"),
    ({"max_nodes": 0}, ValueError, "max_nodes"),
    ({"modules": object()}, TypeError, "graph_clusters"),
    ({"clusters": 3}, TypeError, "clusters"),
    ({"clusters": lambda v: "layer"}, TypeError, "tuple of cluster names"),
    ({"clusters": lambda v: ("layer", 0)}, TypeError, "non-empty str"),
    ({"clusters": {}, "modules": object()}, ValueError, "not both"),
    ({"highlight": [Value(1.0)]}, ValueError, "highlight"),
    ({"highlight_edges": [(Value(1.0), Value(2.0))]}, ValueError, "highlight_edges"),
    ({"highlight_edges": [Value(1.0)]}, TypeError, "pairs"),
])
def test_bad_options_raise_naming_them(kwargs, exc, words):
    o, _ = neuron()
    with pytest.raises(exc, match=words):
        draw_graph(o, **kwargs)


def test_root_must_be_a_value():
    with pytest.raises(TypeError, match="Value"):
        draw_graph(1.5)


# ---- highlights ---------------------------------------------------------------------------------
def test_highlight_nodes_and_edges():
    o, vs = neuron()
    ids = {v: f"n{i}" for i, v in enumerate(topo_order([o]))}
    n = vs["n"]
    dot = parse(draw_graph(o, highlight=[n], highlight_edges=[(vs["b"], n)]).source)
    lit = {nid for nid, a in dot.nodes.items() if a.get("color") == HIGHLIGHT}
    assert lit == {ids[n], ids[n] + "op"}
    assert all(dot.nodes[x]["penwidth"] == "3" for x in lit)
    lit_edges = {(s, t) for s, t, a in dot.edges if a.get("color") == HIGHLIGHT}
    assert lit_edges == {(ids[vs["b"]], ids[n] + "op"), (ids[n] + "op", ids[n])}


# ---- colour by gradient -------------------------------------------------------------------------
def legend_colours(source: str) -> list[str]:
    leg = parse(source).nodes["legend"]["label"]
    return re.findall(r'bgcolor="(#[0-9a-f]{6})"', leg)


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=8))
def test_grad_colours_keep_the_sign_and_follow_magnitude(grads):
    xs = [Value(1.0, label=f"x{i}") for i in range(len(grads))]
    root = sum(xs[1:], xs[0])
    for x, g in zip(xs, grads):
        x.grad = g  # drawing only reads .grad; set it to a chosen spread
    src = draw_graph(root, color_by_grad=True).source
    dot = parse(src)
    scale = legend_colours(src)  # 4 positive shades, 4 negative shades, then zero
    assert "orange +, blue -" in parse(src).label("legend")
    if all(g == 0.0 for g in grads):
        assert scale == ["#ffffff"]
        return
    assert len(scale) == 9
    ids = {v: f"n{i}" for i, v in enumerate(topo_order([root]))}
    pos = {x: scale.index(dot.nodes[ids[x]]["fillcolor"]) for x in xs}
    for sign in (1.0, -1.0):
        same = [x for x in xs if x.grad * sign > 0.0]
        by_size = sorted(same, key=lambda x: -abs(x.grad))
        assert [pos[x] for x in by_size] == sorted(pos[x] for x in by_size)  # bigger: earlier
        assert all((pos[x] < 4) == (sign > 0) for x in same)  # the sign picks the scale
    top = max(abs(v.grad) for v in ids)
    for x in xs:
        if x.grad == 0.0:
            assert pos[x] == len(scale) - 1  # the "= 0" row
        elif abs(x.grad) == top:
            assert pos[x] == (0 if x.grad > 0 else 4)


def test_legend_states_thresholds_and_nonfinite():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    y = a * b
    y.grad, a.grad, b.grad = 1.0, 4.0, float("inf")
    src = draw_graph(y, color_by_grad=True).source
    text = parse(src).label("legend")
    assert "+ 2 <= |grad| <= 4" in text and "|grad| = 0" in text and "inf or nan" in text
    assert "legend" not in draw_graph(y).source


# ---- clusters -----------------------------------------------------------------------------------
class FakeModel:
    """Duck-typed module: a 2-2-1 tanh network whose forward pass the test writes by hand."""

    def __init__(self) -> None:
        self.params = {}
        for layer, nin, nout in ((0, 2, 2), (1, 2, 1)):
            for j in range(nout):
                for k in range(nin):
                    self.params[f"layers.{layer}.neurons.{j}.w.{k}"] = Value(0.3 * (j - k) + 0.1)
                self.params[f"layers.{layer}.neurons.{j}.b"] = Value(0.05 * j)
        for name, p in self.params.items():
            p.label = name

    def named_parameters(self):
        return iter(self.params.items())

    def graph_clusters(self):
        """Each parameter in its layer and neuron, as the model knows them (no name parsed)."""
        return {p: (f"layers.{layer}", f"layers.{layer}.neurons.{j}")
                for layer, nout in ((0, 2), (1, 1)) for j in range(nout)
                for name, p in self.params.items()
                if name.startswith(f"layers.{layer}.neurons.{j}.")}

    def forward(self, xs):
        """The output and, for each neuron, the nodes its forward pass made (the oracle)."""
        made: dict[str, list[Value]] = {}
        for layer, nout in ((0, 2), (1, 1)):
            outs = []
            for j in range(nout):
                pre = f"layers.{layer}.neurons.{j}"
                prods = [self.params[f"{pre}.w.{k}"] * x for k, x in enumerate(xs)]
                s = self.params[f"{pre}.b"] + prods[0]
                sums = [s]
                for p in prods[1:]:
                    s = s + p
                    sums.append(s)
                h = s.tanh()
                made[pre] = prods + sums + [h]
                outs.append(h)
            xs = outs
        return xs[0], made


def fake_loss():
    model = FakeModel()
    x = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    pred, made = model.forward(x)
    loss = (pred - 0.25) ** 2
    loss.label = "loss"
    loss.backward()
    return model, loss, made


def test_clusters_follow_parameter_names():
    model, loss, made = fake_loss()
    ids = {v: f"n{i}" for i, v in enumerate(topo_order([loss]))}
    dot = parse(draw_graph(loss, modules=model).source)
    for name, p in model.params.items():
        layer, neuron_ = name.split(".")[1], name.split(".")[3]
        assert dot.clusters[ids[p]] == (f"layers.{layer}", f"neurons.{neuron_}")
        short = name.split(".", 4)[4]  # `w.1` or `b`, shown relative to its neuron
        assert dot.label(ids[p]).startswith(short + " | data")
    for pre, nodes in made.items():
        layer, neuron_ = pre.split(".")[1], pre.split(".")[3]
        for v in nodes:
            assert dot.clusters[ids[v]] == (f"layers.{layer}", f"neurons.{neuron_}")
            assert dot.clusters[ids[v] + "op"] == dot.clusters[ids[v]]
    inside = {v for nodes in made.values() for v in nodes} | set(model.params.values())
    for v, nid in ids.items():
        if v not in inside:  # inputs, the target constant and the loss nodes stay outside
            assert dot.clusters[nid] == ()


def test_assign_clusters_rules():
    w, x, c = Value(1.0), Value(2.0), Value(3.0)
    u = Value(4.0)
    params = {w: ("L0", "L0.N0"), u: ("L0", "L0.N1")}
    a = w * x  # fed by a parameter: its neuron
    b = a.tanh()  # all parents in L0.N0
    d = b + c  # c is outside: stays outside
    e = w * u  # parameters of two neurons: the layer they share
    f = b * (u * x)  # parents in two different neurons, no parameter: outside
    where = assign_clusters(topo_order([d + e + f]), params)
    assert where[a] == where[b] == ("L0", "L0.N0")
    assert where[e] == ("L0",)
    assert d not in where and f not in where and x not in where and c not in where


def test_cluster_ends_at_a_module_output():
    # A computed node the caller places (nn places each neuron's output) is its cluster's
    # output: nodes after it (a loss's neg/softplus, even unary) stay outside the neuron,
    # though all their parents are inside. Its label plays no part.
    w, x = Value(1.0, label="L0.N0.w"), Value(2.0)
    out = (w * x).tanh()
    out.label = "anything"
    loss = (-out).softplus()
    where = assign_clusters(topo_order([loss]), {w: ("L0", "L0.N0"), out: ("L0", "L0.N0")})
    assert where[out] == ("L0", "L0.N0")
    assert loss not in where and loss.parents[0] not in where


def test_real_mlp_loss_stays_outside_the_output_neuron():
    nn = pytest.importorskip("nn")
    model = nn.MLP(2, [3, 1], seed=0)
    pred = model([0.5, -1.0])
    assert pred.label == "layers.1.neurons.0"
    loss = (-pred).softplus()
    order = topo_order([loss])
    ids = {v: f"n{i}" for i, v in enumerate(order)}
    dot = parse(draw_graph(loss, modules=model).source)
    assert dot.clusters[ids[pred]] == ("layers.1", "neurons.0")
    assert dot.clusters[ids[loss]] == dot.clusters[ids[loss.parents[0]]] == ()


def test_collapse_neuron_boxes():
    model, loss, made = fake_loss()
    src = draw_graph(loss, modules=model, collapse="neuron", color_by_grad=True).source
    dot = parse(src)
    boxes = {nid: a for nid, a in dot.nodes.items() if nid.startswith("m_")}
    assert len(boxes) == len(made) == 3
    hidden = {v for nodes in made.values() for v in nodes} | set(model.params.values())
    ids = {v: f"n{i}" for i, v in enumerate(topo_order([loss]))}
    assert not {ids[v] for v in hidden} & set(dot.nodes)
    for pre, nodes in made.items():
        box = "m_" + pre.replace(".", "_")
        text = dot.label(box)
        nparams = sum(1 for n in model.params if n.startswith(pre + "."))
        assert f"{nparams} params" in text
        out = nodes[-1]
        assert f"data {out.data:.4f}" in text and f"grad {out.grad:.4f}" in text
        assert dot.clusters[box] == (pre.rsplit(".", 2)[0],)
    pairs = Counter((s, t) for s, t, _ in dot.edges)
    assert all(c == 1 for (s, t), c in pairs.items() if s.startswith("m_") and t.startswith("m_"))
    assert ("m_layers_0_neurons_0", "m_layers_1_neurons_0") in pairs
    assert ("m_layers_0_neurons_1", "m_layers_1_neurons_0") in pairs
    assert "boxes: largest |grad|" in dot.label("legend")


def test_collapse_layer_and_highlight_inside_a_box():
    model, loss, made = fake_loss()
    inner = made["layers.0.neurons.1"][0]
    dot = parse(draw_graph(loss, modules=model, collapse="layer", highlight=[inner]).source)
    boxes = sorted(n for n in dot.nodes if n.startswith("m_"))
    assert boxes == ["m_layers_0", "m_layers_1"]
    assert "6 params" in dot.label("m_layers_0") and "2 outputs" in dot.label("m_layers_0")
    assert dot.nodes["m_layers_0"].get("color") == HIGHLIGHT
    assert dot.nodes["m_layers_1"].get("color") != HIGHLIGHT


def test_real_mlp_clusters_and_collapse():
    nn = pytest.importorskip("nn")
    model = nn.MLP(2, [3, 2, 1], seed=1)
    pred = model([0.5, -1.0])
    loss = (pred - 1.0) ** 2
    loss.backward()
    names = dict((p, n) for n, p in model.named_parameters())
    ids = {v: f"n{i}" for i, v in enumerate(topo_order([loss]))}
    dot = parse(draw_graph(loss, modules=model).source)
    for p, name in names.items():
        parts = name.split(".")
        assert dot.clusters[ids[p]] == (".".join(parts[:2]), ".".join(parts[2:4]))
    assert dot.clusters[ids[loss]] == ()
    assert dot.clusters[ids[pred]] == ("layers.2", "neurons.0")
    boxed = parse(draw_graph(loss, modules=model, collapse="neuron").source)
    per_neuron = Counter(".".join(n.split(".")[:4]) for n in names.values())
    for pre, count in per_neuron.items():
        assert f"{count} params" in boxed.label("m_" + pre.replace(".", "_"))
    assert len([n for n in boxed.nodes if n.startswith("m_")]) == len(per_neuron) == 6


# ---- size limit ---------------------------------------------------------------------------------
def chain(n: int) -> Value:
    x = Value(0.1, label="x")
    for _ in range(n - 1):
        x = x.sin()
    return x


def test_node_limit_message():
    root = chain(50)
    with pytest.raises(ValueError, match=r"50 nodes to draw, more than max_nodes=10.*collapse"):
        draw_graph(root, max_nodes=10)
    assert len(parse(draw_graph(root, max_nodes=50).source).nodes) == 50 + 49


def test_node_limit_counts_boxes_when_collapsed():
    model, loss, _ = fake_loss()
    dot = parse(draw_graph(loss, modules=model, collapse="neuron").source)
    drawn = sum(1 for n in dot.nodes if not n.endswith("op"))  # value nodes and boxes
    assert drawn < len(topo_order([loss]))
    with pytest.raises(ValueError, match=f"{drawn} nodes to draw.*collapse='layer'"):
        draw_graph(loss, modules=model, collapse="neuron", max_nodes=drawn - 1)
    draw_graph(loss, modules=model, collapse="neuron", max_nodes=drawn)


def test_huge_graph_is_refused_quickly():
    x = Value(0.5)
    for _ in range(200_000):
        x = -x
    with pytest.raises(ValueError, match="200001 nodes"):
        draw_graph(x)


# ---- determinism --------------------------------------------------------------------------------
@given(expressions(n_nodes=(1, 12)), st.booleans())
def test_same_graph_same_source(expr, by_grad):
    def build() -> Value:
        y = expr(*[Value(x, label=f"x{i}") for i, x in enumerate(expr.inputs)])
        y.backward()
        return y

    a, b = build(), build()
    hl_a, hl_b = topo_order([a])[-1:], topo_order([b])[-1:]
    assert draw_graph(a, color_by_grad=by_grad, highlight=hl_a).source == \
        draw_graph(b, color_by_grad=by_grad, highlight=hl_b).source


def test_same_model_same_source_across_processes():
    code = ("import nn; from autograd_lite import draw_graph\n"
            "m = nn.MLP(2, [4, 1], seed=0); L = (m([0.3, -0.7]) - 1.0) ** 2; L.backward()\n"
            "print(draw_graph(L, modules=m, color_by_grad=True).source)\n"
            "print(draw_graph(L, modules=m, collapse='neuron').source)")
    pytest.importorskip("nn")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
            for seed in (1, 2)]
    assert runs[0] == runs[1] and "cluster_layers_0_neurons_3" in runs[0]


# ---- the engine knows nothing of rendering ------------------------------------------------------
def test_engine_does_not_import_rendering():
    code = ("import sys; from autograd_lite import Value\n"
            "y = (Value(2.0) * 3).tanh(); y.backward()\n"
            "assert 'autograd_lite.render' not in sys.modules and 'graphviz' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_graphviz_package_says_how_to_install():
    code = ("import sys; sys.modules['graphviz'] = None\n"
            "import autograd_lite\n"
            "try:\n    autograd_lite.draw_graph\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install graphviz" in out


# ---- command line -------------------------------------------------------------------------------
def test_command_line_writes_dot_and_reports_counts(tmp_path, capsys):
    from autograd_lite.cli.main import main as cli
    from autograd_lite.viz.examples import neuron as example

    def main(argv: list[str]) -> int:  # `python -m autograd_lite.render` = `autograd-lite render`
        return cli(["render", *argv])

    assert main(["neuron", "-o", str(tmp_path / "n.dot")]) == 0
    o = example()
    o.backward()
    assert (tmp_path / "n.dot").read_text() == draw_graph(o).source
    assert "10 values in the graph; drew 15 nodes" in capsys.readouterr().out
    pytest.importorskip("nn")
    assert main(["mlp", "--sizes", "3", "1", "--collapse", "neuron", "-o",
                 str(tmp_path / "m.dot")]) == 0
    assert "(4 boxes)" in capsys.readouterr().out
    assert main(["mlp", "--max-nodes", "5", "-o", str(tmp_path / "x.dot")]) == 2
    assert "max_nodes=5" in capsys.readouterr().err


def test_size_and_graph_attr_reach_the_graph_line():
    o, _ = neuron()
    head = draw_graph(o, size=(4, 3), graph_attr={"bgcolor": "lightgrey", "dpi": 150}).source
    graph_line = next(line for line in head.splitlines() if line.strip().startswith("graph ["))
    assert 'size="4,3"' in graph_line and "bgcolor=lightgrey" in graph_line
    assert "dpi=150" in graph_line and "bgcolor=white" not in graph_line


# ---- higher-order graphs: the derivative computation is marked ---------------------------------
@given(expressions(n_nodes=(1, 10)))
def test_derivative_nodes_are_exactly_those_grad_built(expr):
    from autograd_lite import grad

    xs = [Value(x, label=f"x{i}") for i, x in enumerate(expr.inputs)]
    y = expr(*xs)
    forward = set(topo_order([y]))
    gs = grad(y, xs, create_graph=True, allow_unused=True, materialize_grads=True)
    g = gs[0]
    for other in gs[1:]:
        g = g + other
    order = topo_order([g])
    dot = parse(draw_graph(g, derivative_of=y).source)
    marked = {nid for nid, a in dot.nodes.items() if "dashed" in a.get("style", "")}
    want = {f"n{i}" for i, v in enumerate(order) if v not in forward}
    want |= {f"n{i}op" for i, v in enumerate(order) if v not in forward and v.op is not None}
    assert marked == want
    if want:
        assert "grad(create_graph=True)" in dot.label("legend")


def test_second_derivative_graph_marks_and_legend():
    from autograd_lite import grad

    x = Value(0.7, label="x")
    y = (x * x).tanh()
    y.label = "y"
    gx, = grad(y, [x], create_graph=True)
    src = draw_graph(gx, derivative_of=y).source
    dot = parse(src)
    order = topo_order([gx])
    ids = {v: f"n{i}" for i, v in enumerate(order)}
    assert "dashed" not in dot.nodes[ids[x]].get("style", "")  # the input: forward graph
    assert "dashed" in dot.nodes[ids[gx]]["style"] and "#7b3fa0" in dot.nodes[ids[gx]]["color"]
    assert "derivative computation" in dot.label("legend")
    assert "legend" not in draw_graph(gx).source or "derivative" not in draw_graph(gx).source
    with pytest.raises(TypeError, match="derivative_of"):
        draw_graph(gx, derivative_of=[1.0])


# ---- neuron health ---------------------------------------------------------------------------
def _health_model():
    nn = pytest.importorskip("nn")
    model = nn.MLP(2, [3, 1], seed=0)
    loss = (model([0.5, -1.0]) - 1.0) ** 2
    loss.backward()
    return model, loss


def test_health_marks_saturated_and_dead_neurons_with_thresholds():
    model, loss = _health_model()
    health = {"layers.0.neurons.0": {"saturated": 0.95, "dead": 0.0,
                                      "saturation_threshold": 0.97},
              "layers.0.neurons.1": {"saturated": 0.0, "dead": 1.0},
              "layers.0.neurons.2": {"saturated": 0.5, "dead": 0.0,
                                      "saturation_threshold": 0.97}}
    src = draw_graph(loss, modules=model, health=health).source
    blocks = dict(re.findall(r"subgraph (cluster_layers_0_neurons_\d) \{\n\t*([^\n]*)", src))
    assert "#d62728" in blocks["cluster_layers_0_neurons_0"]  # saturated: red outline
    assert "saturated on 95%" in blocks["cluster_layers_0_neurons_0"]
    assert "#d9d9d9" in blocks["cluster_layers_0_neurons_1"]  # dead: grey fill
    assert "#d62728" not in blocks["cluster_layers_0_neurons_2"]  # below the threshold
    legend = parse(src).label("legend")
    assert ">= 90% of the batch" in legend and "|out| > 0.97" in legend
    collapsed = parse(draw_graph(loss, modules=model, collapse="neuron", health=health,
                                 health_threshold=0.5).source)
    assert collapsed.nodes["m_layers_0_neurons_2"]["color"] == "#d62728"
    assert collapsed.nodes["m_layers_0_neurons_1"]["fillcolor"] == "#d9d9d9"
    layer = parse(draw_graph(loss, modules=model, collapse="layer", health=health).source)
    assert "1 saturated, 1 dead" in layer.label("m_layers_0")


@pytest.mark.parametrize("health, kwargs, error, match", [
    ({"layers.9.neurons.0": {"dead": 1.0}}, {}, ValueError, "layers.9.neurons.0"),
    ({"layers.0.neurons.0": {"dead": 1.5}}, {}, ValueError, r"fraction in \[0, 1\]"),
    ([("layers.0.neurons.0", 1.0)], {}, TypeError, "neuron names"),
    ({"layers.0.neurons.0": {"dead": 1.0}}, {"health_threshold": 0}, ValueError, "threshold"),
])
def test_health_bad_input(health, kwargs, error, match):
    model, loss = _health_model()
    with pytest.raises(error, match=match):
        draw_graph(loss, modules=model, health=health, **kwargs)
    with pytest.raises(ValueError, match="needs modules"):
        draw_graph(loss, health={"layers.0.neurons.0": {"dead": 1.0}})


def test_graph_repr_has_no_memory_address():
    """Stored notebook outputs (text/plain) must not change from run to run."""
    o, _ = neuron()
    text = repr(draw_graph(o))
    assert " at 0x" not in text and text == repr(draw_graph(neuron()[0]))
