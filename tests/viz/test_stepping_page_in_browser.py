"""The exported walk-through in a real headless Chromium (Debian's chromium + chromedriver, driven
by selenium without selenium-manager): it loads without errors, prev/next, the slider, the
keyboard and the tape rows move between frames, and the node highlighted in the frame on screen
is the node of the Step record with that index (found independently on a twin graph)."""

from __future__ import annotations

import math
import os
import shutil

import pytest

from autograd_lite import Value, backward_steps, topo_order
from autograd_lite.viz.export import demo_graph, export_html
from tests.render_helpers import chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


def reuse_graph() -> Value:
    """Unlabelled nodes (names fall back to ids), a node used twice, a shared label."""
    a = Value(1.5)
    b = Value(-0.5, label="w")
    c = Value(2.0, label="w")
    y = (a * a + b * c).tanh() * a
    return y


def expected(build) -> list[tuple[str, str]]:
    """(node id, label) of each Step, from a twin graph: id = index in topo_order([root])."""
    root = build()
    order = topo_order([root])
    return [(f"n{order.index(s.node)}", s.node.label) for s in backward_steps(root)]


STATE_JS = """
const shown = [...document.querySelectorAll('#frames .frame')]
  .filter(f => f.getClientRects().length > 0 && getComputedStyle(f).display !== 'none');
const f = shown[0];
const marked = f ? [...f.querySelectorAll("g.node[data-active='true']")] : [];
const titleOf = g => g.querySelector('title').textContent;
// Value nodes (id n<i>) that Graphviz drew with draw_graph's highlight colour.
const drawn = f ? [...f.querySelectorAll('g.node')]
  .filter(g => /^n\\d+$/.test(titleOf(g)) && [...g.querySelectorAll('path,polygon,ellipse')]
    .some(e => (e.getAttribute('stroke') || '').toLowerCase() === arguments[0]))
  .map(titleOf) : [];
const box = marked.length ? marked[0].getBoundingClientRect() : null;
return {
  shown: shown.length, marked: marked.length, drawn: drawn,
  step: f && +f.dataset.step, id: f && f.dataset.activeId, label: f && f.dataset.activeLabel,
  svg_title: marked.length ? marked[0].querySelector('title').textContent : null,
  box: box && [box.width, box.height],
  rows: [...document.querySelectorAll('#tape-wrap tbody tr.current')]
    .map(r => r.dataset.step + '/' + r.dataset.node),
  slider: +document.getElementById('slider').value,
  counter: document.getElementById('counter').textContent,
  body: +document.body.dataset.current,
};
"""


def on_screen(d) -> dict:
    """The one displayed frame: its step, declared active node, and the SVG node marked active
    (one script call: the page's state as the browser lays it out)."""
    from autograd_lite.viz.render import _HIGHLIGHT

    s = d.execute_script(STATE_JS, _HIGHLIGHT.lower())
    assert s["shown"] == 1, f"{s['shown']} frames displayed"
    assert s["marked"] == 1
    return s


def check(d, k: int, want: list[tuple[str, str]]) -> None:
    s = on_screen(d)
    node_id, label = want[k]
    assert s["step"] == k == s["slider"] == s["body"]
    assert s["counter"] == f"step {k + 1} of {len(want)}"  # numbered from 1
    assert s["id"] == node_id == s["svg_title"]  # the node marked active is the Step's node
    assert s["drawn"] == [node_id]  # and the only value node drawn highlighted
    assert s["label"] == (label or node_id) or s["label"].startswith(f"{label}@")
    assert s["box"][0] > 0 and s["box"][1] > 0  # drawn, visible
    assert set(s["rows"]) == {f"{k}/{node_id}"}


@pytest.mark.parametrize("build", [demo_graph, reuse_graph], ids=["neuron", "reuse"])
def test_exported_page_steps_through_every_frame_in_chromium(driver, tmp_path, build) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    want = expected(build)
    last = len(want) - 1
    page = export_html(build(), tmp_path / "steps.html", title="Stepping test")
    driver.get(page.resolve().as_uri())
    assert driver.title == "Stepping test"
    assert int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-steps")) == len(want)
    prev = driver.find_element(By.ID, "prev")
    nxt = driver.find_element(By.ID, "next")
    body = driver.find_element(By.TAG_NAME, "body")
    slider = driver.find_element(By.ID, "slider")

    frame0 = driver.find_element(By.ID, "frame-0")
    assert frame0.is_displayed()
    assert not driver.find_element(By.ID, "frame-1").is_displayed()
    check(driver, 0, want)
    assert not prev.is_enabled() and nxt.is_enabled()
    for k in range(1, last + 1):  # next, through every frame
        nxt.click()
        check(driver, k, want)
    assert not nxt.is_enabled()
    nxt.click()  # disabled at the end: stays
    check(driver, last, want)
    prev.click()
    check(driver, last - 1, want)
    body.send_keys(Keys.HOME)
    check(driver, 0, want)
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    check(driver, 2, want)
    body.send_keys(Keys.ARROW_LEFT)
    check(driver, 1, want)
    body.send_keys(Keys.END)
    check(driver, last, want)
    # The slider, driven by the keyboard like a user would (the page must not step twice).
    body.send_keys(Keys.HOME)
    slider.click()
    slider.send_keys(Keys.HOME)
    slider.send_keys(Keys.ARROW_RIGHT)
    slider.send_keys(Keys.ARROW_RIGHT)
    slider.send_keys(Keys.ARROW_RIGHT)
    check(driver, 3, want)
    slider.send_keys(Keys.END)
    check(driver, last, want)
    # A click on a row of the tape jumps to its step.
    row = driver.find_element(By.CSS_SELECTOR, "#tape-wrap tbody tr[data-step='2']")
    row.click()
    check(driver, 2, want)

    # "fit to width" off: the SVG at its natural size (never smaller), the same frame shown.
    def svg_width() -> float:
        return driver.execute_script(
            "return document.querySelector('#frame-2 svg').getBoundingClientRect().width")

    fitted = svg_width()
    driver.find_element(By.ID, "fit").click()
    assert "fit" not in driver.find_element(By.ID, "frames").get_attribute("class")
    assert svg_width() >= fitted
    check(driver, 2, want)
    driver.find_element(By.ID, "fit").click()
    assert svg_width() == fitted

    shot = tmp_path / "steps.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("AUTOGRAD_LITE_SCREENSHOTS")
    if keep:  # for a human to look at
        shutil.copy(shot, os.path.join(keep, f"stepping-{build.__name__}.png"))
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


# ---- the quiz page -----------------------------------------------------------------------------
QUIZ_JS = """
const visible = el => el && el.getClientRects().length > 0 &&
  getComputedStyle(el).visibility !== 'hidden';
const shown = [...document.querySelectorAll('#frames .frame')].filter(visible);
const section = [...document.querySelectorAll('#quiz .q-step')].filter(visible);
const score = document.getElementById('score');
const row = document.querySelector(`#tape-wrap tbody tr[data-step='${arguments[0]}'] td.al-chain`);
return {
  frames: shown.map(f => f.id), step: +document.body.dataset.current,
  open: document.body.dataset.open === 'true',
  sections: section.map(s => +s.dataset.step),
  correct: +score.dataset.correct, answered: +score.dataset.answered,
  total: +score.dataset.total, score: score.textContent,
  next: !document.getElementById('next').disabled,
  chain_visible: visible(row),
};
"""


def quiz_state(d, k: int) -> dict:
    return d.execute_script(QUIZ_JS, k)


def questions(d, k: int) -> list:
    from selenium.webdriver.common.by import By

    return d.find_elements(By.CSS_SELECTOR, f"#quiz .q-step[data-step='{k}'] .q")


def answer(q, text: str) -> str:
    """Type `text` and press Enter; return the feedback line."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = q.find_element(By.CLASS_NAME, "q-input")
    box.clear()
    box.send_keys(text + Keys.ENTER)
    return q.find_element(By.CLASS_NAME, "q-result").text


def test_quiz_answered_right_reveals_each_step_and_scores_full_marks(driver, tmp_path) -> None:
    """Every local derivative typed (to 4 significant digits, as read off the pictures), taken
    from Step records of a twin graph: each step opens on the graph before it, with `next`
    locked; the right answers reveal the frame after it and the tape row; full score."""
    from selenium.webdriver.common.by import By

    twin = list(backward_steps(demo_graph()))
    total = sum(len(s.contributions) for s in twin)
    page = export_html(demo_graph(), tmp_path / "quiz.html", quiz=True)
    driver.get(page.resolve().as_uri())
    nxt = driver.find_element(By.ID, "next")
    for k, s in enumerate(twin):
        st = quiz_state(driver, k)
        assert st["step"] == k
        if s.contributions:
            assert st["open"] and st["frames"] == [f"ask-{k}"] and st["sections"] == [k]
            assert not st["next"] and not st["chain_visible"]
            nxt.click()  # locked until answered
            assert quiz_state(driver, k)["step"] == k
            qs = questions(driver, k)
            assert len(qs) == len(s.contributions)
            for q, c in zip(qs, s.contributions):
                assert not q.find_element(By.CLASS_NAME, "q-chain").is_displayed()
                fb = answer(q, f"{c.local:.4g}")
                assert fb.startswith("✓ right"), fb
            st = quiz_state(driver, k)
            assert not st["open"] and st["frames"] == [f"frame-{k}"] and st["chain_visible"]
        else:
            assert not st["open"] and st["frames"] == [f"frame-{k}"]
        if k < len(twin) - 1:
            assert st["next"]
            nxt.click()
    st = quiz_state(driver, len(twin) - 1)
    assert st["correct"] == st["answered"] == st["total"] == total > 0
    assert st["score"].startswith(f"score {total} / {total}")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_quiz_wrong_answer_shows_the_chain_rule_line_and_counts(driver, tmp_path) -> None:
    """A wrong local derivative: marked wrong, score 0 / 1, and the chain-rule line with the
    numbers (upstream · local = contribution) revealed, as the tape writes it. Then the
    contribution mode: a right contribution at the next step scores; not-a-number is refused
    without counting."""
    from selenium.webdriver.common.by import By

    root = demo_graph()
    twin = list(backward_steps(demo_graph()))
    s0 = twin[0]  # L = tanh(n): local 1 - tanh(n)^2, by hand
    n = s0.contributions[0].parent.data
    local = 1.0 - math.tanh(n) ** 2
    assert local == pytest.approx(s0.contributions[0].local, rel=1e-12)
    page = export_html(root, tmp_path / "quiz.html", quiz=True)
    driver.get(page.resolve().as_uri())
    q = questions(driver, 0)[0]
    fb = answer(q, f"{local + 0.25:.4g}")
    assert fb.startswith("✗ you typed") and f"is {local:.4g}" in fb
    chain = q.find_element(By.CLASS_NAME, "q-chain")
    assert chain.is_displayed()
    assert chain.text == f"dL/dn += dL/dL · dL/dn = 1 · {local:.4g} = {local:.4g}"
    st = quiz_state(driver, 0)
    assert (st["correct"], st["answered"]) == (0, 1) and st["score"].startswith("score 0 / 1")
    assert st["frames"] == ["frame-0"] and st["chain_visible"] and st["next"]
    assert not q.find_element(By.CLASS_NAME, "q-input").is_enabled()  # one try per question

    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "quiz-ask")).select_by_value("contribution")
    driver.find_element(By.ID, "next").click()
    k = next(i for i, s in enumerate(twin) if i > 0 and s.contributions)
    assert k == 1
    qs = questions(driver, k)
    assert answer(qs[0], "abc").startswith("“abc” is not a number")
    assert quiz_state(driver, k)["answered"] == 1  # refused, not counted
    for q, c in zip(qs, twin[k].contributions):
        assert c.contribution != pytest.approx(c.local)  # the upstream matters here
        assert answer(q, f"{c.contribution:.5g}").startswith("✓ right: the contribution")
    st = quiz_state(driver, k)
    assert (st["correct"], st["answered"]) == (len(qs), 1 + len(qs))
    # a wrong contribution, one decimal place off, at the next open step
    k2 = next(i for i, s in enumerate(twin) if i > k and s.contributions)
    driver.find_element(By.ID, "next").click()
    while quiz_state(driver, k2)["step"] < k2:
        driver.find_element(By.ID, "next").click()
    c = twin[k2].contributions[0]
    fb = answer(questions(driver, k2)[0], f"{c.contribution * 10:.4g}")
    assert fb.startswith("✗") and "upstream · local = contribution" in fb
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
