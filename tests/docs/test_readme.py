"""The README's code cannot rot: its ```python blocks run, and every shell command it shows is one
this project provides, written so that it works after the README's two commands.

Rules (for whoever edits the README):
- ```python blocks run in order, in one namespace, in a temporary folder. Put
  `<!-- readme: skip -->` on the line before a block that must not run.
- ```bash / ```sh / ```shell blocks: every line is a command (`# comments` and `\\` line
  continuations allowed). ```console blocks: lines starting with `$ ` are commands, the lines
  after them are its output; for `autograd-lite` commands that output is compared with the real
  output, run in a temporary folder (a line `...` stands for any lines).
- A command is checked by what it runs: `make T` (T is a Makefile target), `autograd-lite ...`
  (parses with the CLI's own parser), `python -m M ...` (M exists; the CLI's aliases parse their
  arguments, other autograd_lite modules answer `--help`), `python FILE` / `pytest PATH` (the
  files exist), `pip install 'autograd-lite[X]'` or `-e '.[X]'` (the extras exist), `jupyter S`
  (an extra installs S). Anything else must be in `ALLOWED` below.
- Commands are used as shown after `make demo`/`make test`: a bare `autograd-lite` or `python`
  needs an earlier shell block that activates the environment (`. .venv/bin/activate` or
  `source .venv/bin/activate`); `.venv/bin/autograd-lite ...` always works.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograd_lite.cli import main

ROOT = Path(__file__).resolve().parent.parent.parent
README = ROOT / "README.md"
SHELLS = {"bash", "sh", "shell", "console"}
#: First words that are not the project's: accepted as they are.
ALLOWED = {"cd", "git", "source", ".", "open", "xdg-open", "ls", "cat", "echo", "export", "du",
           "apt-get", "sudo", "brew", "python3", "rm", "mkdir", "cp"}
#: `jupyter SUB` -> the distribution that provides it (it must be in an extra).
JUPYTER = {"lab": "jupyterlab", "nbconvert": "nbconvert", "notebook": "notebook",
           "execute": "nbclient", "kernelspec": "jupyter-client"}
ACTIVATE = re.compile(r"^\s*(\.|source)\s+\S*\.venv/bin/activate\b", re.M)


@dataclass
class Block:
    lang: str
    line: int  #: README line of the opening fence
    text: str
    skip: bool


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(2), m.group(3).lower()
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        skip = start > 0 and "readme: skip" in lines[start - 1]
        out.append(Block(lang, start + 1, "\n".join(body) + "\n", skip))
        i += 1
    return out


@dataclass
class Command:
    argv: list[str]
    line: int
    output: list[str]  #: console blocks: the lines shown after it
    block: int  #: index of its block


def commands(bs: list[Block]) -> list[Command]:
    """The shell commands shown, split at `&&`, `||`, `;` and `|`."""
    out: list[Command] = []
    for k, b in enumerate(bs):
        if b.lang not in SHELLS or b.skip:
            continue
        lines = b.text.splitlines()
        j = 0
        while j < len(lines):
            raw = lines[j]
            line_no = b.line + 1 + j
            j += 1
            if b.lang == "console":
                if not raw.startswith("$ "):
                    continue
                raw = raw[2:]
            while raw.rstrip().endswith("\\") and j < len(lines):
                raw = raw.rstrip()[:-1] + " " + lines[j]
                j += 1
            shown: list[str] = []
            if b.lang == "console":
                while j < len(lines) and not lines[j].startswith("$ "):
                    shown.append(lines[j])
                    j += 1
            try:
                words = shlex.split(_without_substitutions(raw), comments=True)
            except ValueError as e:
                raise AssertionError(f"README line {line_no}: cannot split {raw!r}: {e}") from e
            part: list[str] = []
            for w in [*words, ";"]:
                if not part and re.match(r"^[A-Za-z_]\w*=", w):
                    continue  # an environment assignment before the command
                if w in ("&&", "||", ";", "|"):
                    if part:
                        out.append(Command(part, line_no, shown, k))
                    part = []
                else:
                    part.append(w)
    return out


def _without_substitutions(line: str) -> str:
    """`$(...)` command substitutions (balanced parentheses) replaced by a word."""
    out, i = [], 0
    while i < len(line):
        if line.startswith("$(", i):
            depth, j, quote = 1, i + 2, ""
            while j < len(line) and depth:
                c = line[j]
                if quote:
                    quote = "" if c == quote else quote
                elif c in "'\"":
                    quote = c
                else:
                    depth += {"(": 1, ")": -1}.get(c, 0)
                j += 1
            out.append("SUBSTITUTION")
            i = j
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _extras() -> dict[str, list[str]]:
    return _pyproject()["project"].get("optional-dependencies", {})


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", text, flags=re.M))


def _parse_cli(args: list[str], where: str) -> None:
    try:
        main.parser().parse_args(args)
    except SystemExit as e:
        raise AssertionError(f"{where}: `autograd-lite {shlex.join(args)}` does not parse "
                             f"(exit {e.code})") from None


def _program(word: str) -> str:
    """`.venv/bin/autograd-lite` -> `autograd-lite` (the environment's own programs)."""
    return word.split("/")[-1] if word.startswith((".venv/", "./.venv/")) else word


def _check_paths(args: list[str], where: str) -> None:
    for a in args:
        if a.startswith("-") or ("/" not in a and not a.endswith((".py", ".ipynb"))):
            continue
        p = a.split("::")[0]
        assert (ROOT / p).exists(), f"{where}: {p} does not exist in the repository"


def check(cmd: Command) -> None:
    """Fail unless the command is one the project provides, with arguments it accepts."""
    where = f"README line {cmd.line}"
    first, *args = cmd.argv
    prog = _program(first)
    if prog == "make":
        missing = [t for t in args if not t.startswith("-") and "=" not in t
                   and t not in _make_targets()]
        assert not missing, f"{where}: make has no target {missing}"
    elif prog in _pyproject()["project"].get("scripts", {}):
        assert prog == "autograd-lite", f"{where}: teach test_readme to check {prog}"
        _parse_cli(args, where)
    elif prog in ("python", "python3") and args[:1] == ["-m"] and len(args) > 1:
        module, rest = args[1], args[2:]
        if module in main.ALIASES:
            _parse_cli([*main.ALIASES[module], *rest], where)
        elif module.startswith("autograd_lite"):
            assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"
            proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                                  text=True, timeout=120, cwd=ROOT)
            assert proc.returncode == 0, f"{where}: python -m {module} --help: {proc.stderr}"
        elif module == "pip":
            check(Command(["pip", *rest], cmd.line, [], cmd.block))
        else:
            assert importlib.util.find_spec(module) is not None, (
                f"{where}: python -m {module}: no such module in this environment")
            _check_paths(rest, where)
    elif prog in ("python", "python3") and args and args[0].endswith(".py"):
        _check_paths(args[:1], where)
    elif prog == "pytest":
        _check_paths(args, where)
    elif prog == "pip":
        extras = _extras()
        for a in args:
            m = re.match(r"^(?:autograd-lite|\.)\[([\w,\s-]+)\]", a)
            if m:
                unknown = [x.strip() for x in m.group(1).split(",") if x.strip() not in extras]
                assert not unknown, f"{where}: no extra {unknown} in pyproject.toml"
    elif prog == "jupyter":
        sub = next((a for a in args if not a.startswith("-")), "")
        dist = JUPYTER.get(sub)
        assert dist, f"{where}: teach test_readme which package provides `jupyter {sub}`"
        listed = " ".join(" ".join(v) for v in _extras().values())
        assert re.search(rf"\b{re.escape(dist)}\b", listed), (
            f"{where}: `jupyter {sub}` needs {dist}, which no extra installs")
        _check_paths(args, where)
    else:
        assert prog in ALLOWED, (f"{where}: `{first}` is not a command this project provides; "
                                 "fix the README or teach tests/docs/test_readme.py to check it")


BLOCKS = blocks(README.read_text(encoding="utf-8")) if README.exists() else []
COMMANDS = commands(BLOCKS)


def test_readme_has_code():
    assert any(b.lang == "python" for b in BLOCKS) and COMMANDS


@pytest.mark.parametrize("cmd", COMMANDS, ids=[f"line{c.line}" for c in COMMANDS])
def test_shell_command_is_provided(cmd: Command) -> None:
    check(cmd)


def test_bare_commands_come_after_activating_the_environment():
    """`autograd-lite` and `python` are the environment's only once it is activated."""
    activated_at = next((k for k, b in enumerate(BLOCKS)
                         if b.lang in SHELLS and ACTIVATE.search(b.text)), None)
    for c in COMMANDS:
        if c.argv[0] in ("autograd-lite", "python", "pytest", "jupyter"):
            assert activated_at is not None and activated_at <= c.block, (
                f"README line {c.line}: `{shlex.join(c.argv)}` needs the .venv activated by an "
                "earlier shell block (`. .venv/bin/activate`), or write .venv/bin/...")


def _matches(shown: list[str], real: list[str]) -> bool:
    """Shown output lines against real ones; a line `...` stands for any lines."""
    if not shown:
        return not real
    if shown[0].strip() == "...":
        return any(_matches(shown[1:], real[k:]) for k in range(len(real) + 1))
    return bool(real) and shown[0].rstrip() == real[0].rstrip() and _matches(shown[1:], real[1:])


RUNNABLE = [c for c in COMMANDS if c.output and _program(c.argv[0]) == "autograd-lite"]


@pytest.mark.parametrize("cmd", RUNNABLE, ids=[f"line{c.line}" for c in RUNNABLE])
def test_console_output_is_what_the_command_prints(cmd: Command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main.main(cmd.argv[1:])
    captured = capsys.readouterr()
    real = (captured.out + captured.err).rstrip("\n").splitlines()
    shown = [s for s in cmd.output]
    while shown and not shown[-1].strip():
        shown.pop()
    assert _matches(shown, real), (f"README line {cmd.line}: shown output differs from the "
                                   "real one:\n" + "\n".join(real))


def test_python_blocks_run(tmp_path, monkeypatch):
    """Every ```python block, in order, in one namespace (as a reader pastes them)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["readme"])
    namespace: dict = {"__name__": "__readme__"}
    ran = 0
    for b in BLOCKS:
        if b.lang != "python" or b.skip:
            continue
        code = compile(b.text, f"README.md:{b.line}", "exec")
        try:
            exec(code, namespace)  # noqa: S102 - our own README's code, the point of the test
        except Exception as e:
            raise AssertionError(f"README python block at line {b.line} fails: "
                                 f"{type(e).__name__}: {e}") from e
        ran += 1
    assert ran > 0


# ---- the harness itself ------------------------------------------------------------------------
def test_harness_reads_blocks_and_commands():
    text = ("x\n```bash\nmake demo   # c\n. .venv/bin/activate && autograd-lite graph x x=1\n```\n"
            "<!-- readme: skip -->\n```python\nraise SystemExit\n```\n"
            "```console\n$ autograd-lite graph \"x*x\" x=3 -o g.dot\nx*x = 9  at x=3\n...\n"
            "$ make nope\n$ X=$(python -c \"print('(')\")/y autograd-lite demo --help\n```\n")
    bs = blocks(text)
    assert [(b.lang, b.skip) for b in bs] == [("bash", False), ("python", True),
                                               ("console", False)]
    cs = commands(bs)
    assert [c.argv[0] for c in cs] == ["make", ".", "autograd-lite", "autograd-lite", "make",
                                       "autograd-lite"]
    assert cs[3].output == ["x*x = 9  at x=3", "..."]
    check(cs[0])
    check(cs[2])
    with pytest.raises(AssertionError, match="no target"):
        check(cs[4])
    with pytest.raises(AssertionError, match="does not parse"):
        check(Command(["autograd-lite", "graph", "--no-such-option"], 1, [], 0))
    with pytest.raises(AssertionError, match="does not parse"):
        check(Command(["python", "-m", "autograd_lite.render", "cube"], 1, [], 0))
    with pytest.raises(AssertionError, match="no module"):
        check(Command(["python", "-m", "autograd_lite.nothing"], 1, [], 0))
    with pytest.raises(AssertionError, match="no extra"):
        check(Command(["pip", "install", "autograd-lite[nothing]"], 1, [], 0))
    with pytest.raises(AssertionError, match="not a command"):
        check(Command(["frobnicate"], 1, [], 0))
    assert _matches(["a", "...", "c"], ["a", "b", "b", "c"])
    assert not _matches(["a", "c"], ["a", "b"])
