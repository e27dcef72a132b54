"""The examples of README.md and of every page under docs/ run as written and print what they
say; the README's two commands are real.

Blocks. Every ```python block of README.md and docs/**/*.md is its own test, with the id
``<section heading>-<index of the python block in that section>`` (``quick-start-1``), prefixed
by the page's name outside the README (``training-optimizers-1``), run in a fresh namespace.
The code is compiled at its own line numbers in its file, so a traceback points into the page.
A block that the prose just above it introduces as an excerpt of a file of the repository (the
paragraph ends with that file's path in backquotes and a colon: "the oracle in
`tests/reference.py`:") is not run: the test checks that the file holds its lines, so the
excerpt cannot drift from the code. Blocks fenced as ```py are not run here: the MPI example
``train.py`` is run under ``mpiexec`` by tests/test_distributed.py. ``test_every_block_is_accounted_for`` makes
sure no fence falls out of the tests unnoticed (an unknown fence language, a miscounted block,
a check registered for a block that no longer exists all fail).

Optional modules. Before a block runs, the modules it imports (at any depth, ``import a.b`` and
``from a.b import c`` count as ``a``) and the modules its method calls need (``.to_onnx()``
needs onnx, see ``NEEDED_BY_METHOD``) are looked up with ``importlib.util.find_spec``. When one
of ``OPTIONAL`` is missing the block is skipped with a reason naming it; a missing module that
is not in ``OPTIONAL`` fails the test. Nothing is skipped silently.

Output comments. A ``print(...)`` statement whose trailing comment (on one of its lines)
starts with a value states what it prints, and the test compares it with what that print
printed (the block's namespace holds a ``print`` that records the README line it was called
from). A value is: a number or a sign, a quote, ``[``, ``(``, ``{``, ``True``/``False``/
``None``, or a repr ``Name(``. Any other comment (it starts with a word: ``# each layer's
Z/H/dZ, ...``) is a description and is not compared. The claim ends at the first ``": "``
outside brackets and quotes; what follows is commentary (``# ~1e-9: the derivative above is
right``). Kinds of claim:

- exact (``# 0.1 0.05 0.025``, ``# 420 ['exp_avg', 'exp_avg_sq']``): the same text, runs of
  whitespace counting as one space; ``...`` stands for any text (``# SGD(lr=0.05, ...)``).
- ``about X Y``: the same tokens, each number X the value rounded to the digits shown: within
  half a unit of X's last digit, plus 0.1% of X for rounding that differs between machines
  (``about 0.942`` accepts 0.9406 to 0.9434; ``about 0.9`` accepts 0.85 to 0.95).
- ``~X``: a number of X's order of magnitude or below, ``|value| < 10 |X|`` (for errors whose
  size depends on rounding: ``~1e-9`` accepts anything below 1e-8).
- ``e.g. {...}``: one machine's output (``cr.cpu_info()``); the printed dict must have every key
  the example shows.

A print with an output comment must run exactly once. Prose numbers that a run can confirm
(the early-stopping epochs and losses, the scikit-learn comparison, the demo's transcript and
multiples of its baseline) are checked by the block checks below and by
``test_readme_demo_section``.
"""

from __future__ import annotations

import ast
import builtins
import decimal
import importlib.util
import io
import pathlib
import re
import sys
import textwrap
import tokenize
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest

import chainrule as cr

ROOT = pathlib.Path(__file__).resolve().parents[1]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text()
#: Every Markdown page whose examples run: the README, then the documentation's pages (not the
#: output of a documentation build).
DOC_PATHS = [README_PATH] + sorted(
    p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts
)

#: Modules a README block may need that the package does not install: a block needing a missing
#: one is skipped with a reason.
OPTIONAL = (
    "torch",
    "onnx",
    "onnxruntime",
    "sklearn",
    "mpi4py",
    "matplotlib",
    "pandas",
    "tornado",
    "plotly",
    "tensorboardX",
)
#: Methods of chainrule objects that import an optional module when called.
NEEDED_BY_METHOD = {
    "to_torch": "torch",
    "from_torch": "torch",
    "to_onnx": "onnx",
    "plot": "matplotlib",
    "Dashboard": "tornado",
    "report": "plotly",
    "TensorBoard": "tensorboardX",
}
#: Fence languages: python blocks run here; py (train.py) runs under mpiexec in
#: test_distributed.py; bash and plain fences are commands, diagrams and sample output; cpp
#: fences are the C++ of docs/extending.md.
FENCE_LANGS = ("python", "py", "bash", "cpp", "")


# ---- the README's fenced blocks -----------------------------------------------------------


@dataclass
class Block:
    lang: str
    heading: str  # the nearest heading above the block
    index: int  # 1-based, among the blocks of this language in the section
    line: int  # line of the block's first code line in its file
    code: str
    section: str = ""  # the text of the section (up to the next heading of any level)
    path: pathlib.Path = README_PATH
    excerpt_of: Optional[str] = None  # the repository file the prose says this block comes from

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        page = "" if self.path == README_PATH else f"{self.path.stem}-"
        return f"{page}{slug}-{self.index}"

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)} line {self.line}"


_EXCERPT_INTRO = re.compile(r"`([\w./-]+\.\w+)`:\s*$")


def parse_blocks(text: str, path: pathlib.Path = README_PATH) -> List[Block]:
    """Every fenced block of a Markdown text, with its heading and section. Fails on an
    unclosed fence."""
    lines = text.splitlines()
    blocks: List[Block] = []
    heading, section_start = "(top)", 0
    sections: Dict[str, str] = {}
    counts: Dict[Tuple[str, str], int] = {}
    open_at: Optional[int] = None
    lang = ""
    for i, line in enumerate(lines):
        if open_at is None:
            fence = re.match(r"^```(\S*)(?:\s.*)?$", line)  # a MyST directive has arguments
            heading_match = re.match(r"^#{1,6} (.+?)\s*$", line)
            if fence:
                open_at, lang = i, fence.group(1)
                before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
                intro = _EXCERPT_INTRO.search(before)
                excerpt = intro.group(1) if intro and (ROOT / intro.group(1)).is_file() else None
            elif heading_match:
                sections[heading] = "\n".join(lines[section_start:i])
                heading, section_start = heading_match.group(1), i
        elif line.strip() == "```":
            key = (heading, lang)
            counts[key] = counts.get(key, 0) + 1
            blocks.append(
                Block(
                    lang,
                    heading,
                    counts[key],
                    open_at + 2,
                    "\n".join(lines[open_at + 1 : i]) + "\n",
                    path=path,
                    excerpt_of=excerpt,
                )
            )
            open_at = None
    assert open_at is None, f"{path.name}: the fence opened at line {open_at + 1} is never closed"
    sections[heading] = "\n".join(lines[section_start:])
    for b in blocks:
        b.section = sections[b.heading]
    return blocks


BLOCKS = [b for p in DOC_PATHS for b in parse_blocks(p.read_text(), p)]
PYTHON_BLOCKS = [b for b in BLOCKS if b.lang == "python"]
README_BLOCKS = [b for b in BLOCKS if b.path == README_PATH]


# ---- optional modules ----------------------------------------------------------------------


def needed_modules(code: str) -> List[str]:
    """Top-level names of the modules a block imports, and of those its method calls need."""
    names: List[str] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
        elif isinstance(node, ast.Attribute) and node.attr in NEEDED_BY_METHOD:
            names.append(NEEDED_BY_METHOD[node.attr])
    return list(dict.fromkeys(names))


def missing_modules(code: str) -> List[str]:
    return [m for m in needed_modules(code) if importlib.util.find_spec(m) is None]


def skip_if_missing(block: Block) -> None:
    """pytest.skip naming the optional modules the block needs and this environment lacks;
    a failure for a missing module that is not optional."""
    missing = missing_modules(block.code)
    unexpected = [m for m in missing if m not in OPTIONAL]
    assert not unexpected, (
        f"block {block.id} ({block.where}) needs "
        f"{', '.join(unexpected)}: not installed and not an optional module"
    )
    if missing:
        pytest.skip(f"block {block.id} needs {', '.join(missing)}, not installed")


# ---- output comments -----------------------------------------------------------------------

_VALUE_START = re.compile(r"""[-+]?\.?\d|[\[({'"]|(?:True|False|None)\b|[A-Za-z_][\w.]*\(""")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Claim:
    first: int  # README lines of the print statement
    last: int
    kind: str  # "exact", "about", "order" or "example"
    text: str  # the claim, without its prefix and commentary
    comment: str


def _cut_commentary(text: str) -> str:
    """The claim up to the first ': ' outside brackets and quotes."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == ":" and depth == 0 and text[i + 1 : i + 2] == " ":
            return text[:i].strip()
    return text.strip()


def classify(comment: str) -> Optional[Tuple[str, str]]:
    """(kind, claim) of an output comment, None for a description."""
    text = comment.lstrip("#").strip()
    for prefix, kind in (("about ", "about"), ("~", "order"), ("e.g. ", "example")):
        if text.startswith(prefix):
            return kind, _cut_commentary(text[len(prefix) :])
    if _VALUE_START.match(text):
        return "exact", _cut_commentary(text)
    return None


def output_claims(code: str) -> List[Claim]:
    """The output comments of the print statements of (line-padded) block code."""
    comments: Dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string
    claims = []
    for node in ast.walk(ast.parse(code)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "print"
        ):
            last = node.end_lineno or node.lineno
            on_lines = [comments[n] for n in range(node.lineno, last + 1) if n in comments]
            if on_lines:
                kind_claim = classify(on_lines[-1])
                if kind_claim:
                    claims.append(Claim(node.lineno, last, *kind_claim, on_lines[-1]))
    return claims


def _unit(token: str) -> float:
    """One unit of the last shown digit of a number: 0.942 -> 0.001, 1e-9 -> 1e-9, 420 -> 1."""
    exponent = decimal.Decimal(token).as_tuple().exponent
    return 10.0 ** int(exponent)


def claim_error(kind: str, claim: str, printed: str) -> Optional[str]:
    """Why `printed` does not satisfy the claim, or None."""
    out = " ".join(printed.split())
    if kind == "exact":
        pattern = ".*?".join(re.escape(" ".join(part.split())) for part in claim.split("..."))
        if re.fullmatch(pattern, out, re.S):
            return None
        return f"printed {out!r}, README says {claim!r}"
    if kind == "example":
        keys = re.findall(r"""(['"][^'"]*['"])\s*:""", claim)
        if not keys:
            return f"an 'e.g.' claim must show the keys of a dict, got {claim!r}"
        absent = [k for k in keys if not re.search(re.escape(k[1:-1]) + r"['\"]\s*:", out)]
        return (
            f"printed {out!r} lacks the keys {absent} of the example {claim!r}" if absent else None
        )
    want, got = claim.split(), out.split()
    if len(want) != len(got):
        return f"printed {out!r}: {len(got)} tokens, README says {claim!r} ({len(want)})"
    for w, g in zip(want, got):
        if not _NUMBER.fullmatch(w):
            if w != g:
                return f"printed {out!r}: {g!r} where README says {w!r}"
            continue
        try:
            value, claimed = float(g), float(w)
        except ValueError:
            return f"printed {out!r}: {g!r} is not a number, README says {w}"
        if kind == "about":
            tol = 0.5 * _unit(w) + 1e-3 * abs(claimed)
            if not abs(value - claimed) <= tol:
                return f"printed {value!r}, README says about {w} (tolerance {tol:.2g})"
        elif not abs(value) < 10 * abs(claimed):
            return f"printed {value!r}, README says ~{w} (order of magnitude or below)"
    return None


# ---- running a block -----------------------------------------------------------------------


@dataclass
class Run:
    block: Block
    ns: Dict[str, Any]
    out: str
    printed: Dict[int, List[str]] = field(default_factory=dict)  # README line -> texts


def padded(block: Block) -> str:
    """The block's code at its README line numbers."""
    return "\n" * (block.line - 1) + block.code


def run_block(block: Block, capsys: Any) -> Run:
    filename = str(block.path)
    printed: Dict[int, List[str]] = {}

    def readme_print(
        *args: Any,
        sep: Optional[str] = " ",
        end: Optional[str] = "\n",
        file: Any = None,
        flush: bool = False,
    ) -> None:
        buffer = io.StringIO()
        builtins.print(*args, sep=sep, end=end, file=buffer)
        caller = sys._getframe(1)
        if file is None and caller.f_code.co_filename == filename:
            printed.setdefault(caller.f_lineno, []).append(buffer.getvalue())
        builtins.print(
            buffer.getvalue(), end="", file=sys.stdout if file is None else file, flush=flush
        )

    ns: Dict[str, Any] = {"__name__": "__readme__", "print": readme_print}
    threads = cr.get_num_threads()
    try:
        exec(compile(padded(block), filename, "exec"), ns)
    finally:
        cr.set_num_threads(threads)  # a block may set it; the rest of the session keeps its own
    return Run(block, ns, capsys.readouterr().out, printed)


# ---- what particular blocks show, beyond their output comments -----------------------------

BLOCK_CHECKS: Dict[str, Callable[[Run], None]] = {}


def block_check(block_id: str) -> Callable:
    def register(f: Callable[[Run], None]) -> Callable[[Run], None]:
        BLOCK_CHECKS[block_id] = f
        return f

    return register


def _in_prose(section: str, text: str) -> None:
    assert " ".join(text.split()) in " ".join(section.split()), (
        f"the README text around this block should say {text!r}"
    )


@block_check("quick-start-1")
def _quick_start(run: Run) -> None:
    assert "epoch 1000/1000" in run.out  # the callback printed every 100 epochs
    assert "total parameters: 169" in run.out  # net.summary()
    assert run.ns["Yhat"].shape == (100, 1)  # the shape comment of Yhat


@block_check("training-optimizers-1")
def _optimizers(run: Run) -> None:
    state = run.ns["state"]  # {"optimizer": "adam", "step": 420, ...}
    assert set(state) == {"optimizer", "step", "buffers"}
    assert state["optimizer"] == "adam" and state["step"] == 420


@block_check("training-early-stopping-and-callbacks-1")
def _early_stopping(run: Run) -> None:
    ns = run.ns
    history, stopper, net = ns["history"], ns["stopper"], ns["net"]
    best, stop, patience = stopper.best_epoch, stopper.stopped_epoch, stopper.patience
    val, loss = np.asarray(history.val_loss), np.asarray(history.loss)
    # the stopper ended training (not StopBelow, not the epoch limit), patience epochs after
    # its best epoch, which is well past the start: real overfitting, not instability
    assert stop is not None and len(history) == stop + 1 < 2000
    assert stop == best + patience and best >= 10
    assert loss[-1] > 1e-3  # StopBelow's threshold: it did not fire
    # the validation loss fell (every epoch) to its minimum, then rose clearly
    assert np.all(np.diff(val[: best + 1]) < 0) and val[best] == val.min()
    assert val[stop] > 1.2 * val[best]
    # ...while the training loss kept falling, below what the noise alone leaves on new data
    assert np.all(np.diff(loss[best:]) < 0) and loss[stop] < 0.5**2 / 2
    # restore_best_weights: the held-out half's loss is the best epoch's again
    n_train = len(ns["X"]) // 2
    assert net.loss(ns["X"][n_train:], ns["Y"][n_train:]) == pytest.approx(val[best], rel=1e-12)
    n_params = sum(W.size + b.size for W, b in zip(net.weights, net.biases))
    for text in (
        f"holds out the last {len(ns['X']) - n_train}",
        f"{n_params} parameters",
        f"falls to {val[best]:.4f} at epoch {best}",
        f"to {val[stop]:.4f} at epoch {stop}",
        f"from {loss[best]:.4f} to {loss[stop]:.4f}",
        f"the {0.5**2 / 2:g} that",
        f"After {patience} epochs",
        f"at epoch {stop} = {best} + {patience}",
        f"puts epoch {best}'s weights back",
        "below 1e-3",
    ):
        _in_prose(run.block.section, text)


@block_check("performance-speed-kernels-dispatch-and-threads-1")
def _speed(run: Run) -> None:
    info = cr.cpu_info()
    assert info["kernel"] in info["supported"]


@block_check("performance-speed-kernels-dispatch-and-threads-2")
def _pool_stats(run: Run) -> None:
    jobs, taken, parts = (int(v) for v in re.findall(r"\d+", run.out))
    assert parts == jobs * (cr.get_num_threads() - 1) and 0 <= taken <= parts
    assert cr.get_num_threads() == 1 or jobs >= 10  # each predict's product is a job


# ---- the tests -----------------------------------------------------------------------------


def test_every_block_is_accounted_for() -> None:
    assert len(PYTHON_BLOCKS) >= 16 and any(b.path == README_PATH for b in PYTHON_BLOCKS)
    # no ```python block escapes the parser, and every fence has a known language
    for path in DOC_PATHS:
        fences = len(re.findall(r"^```python\s*$", path.read_text(), re.M))
        assert fences == len([b for b in PYTHON_BLOCKS if b.path == path]), path
    # MyST directives ({toctree}, {include}) are fine, but not one that hides Python code
    unknown = [
        (b.where, b.lang)
        for b in BLOCKS
        if b.lang not in FENCE_LANGS
        and not (b.lang.startswith("{") and b.lang not in ("{code-block}", "{code}", "{code-cell}"))
    ]
    assert not unknown, f"fences with an unknown language (where, language): {unknown}"
    ids = [b.id for b in PYTHON_BLOCKS]
    assert len(set(ids)) == len(ids), f"duplicate block ids: {ids}"
    stale = set(BLOCK_CHECKS) - set(ids)
    assert not stale, f"checks registered for blocks that do not exist: {stale}; ids: {ids}"
    # ```py blocks are the MPI train.py, which tests/test_distributed.py runs under mpiexec
    py = [b for b in BLOCKS if b.lang == "py"]
    assert py and all(b.code.startswith("# train.py") for b in py)
    runner = (ROOT / "tests" / "test_distributed.py").read_text()
    assert "```py" in runner and "train.py" in runner
    # every output comment is well formed (an 'e.g.' shows keys, a number parses)
    for b in PYTHON_BLOCKS:
        if b.excerpt_of is None:
            for c in output_claims(padded(b)):
                for token in c.text.split():
                    if _NUMBER.fullmatch(token):
                        _unit(token)


def _holds_excerpt(source: str, code: str) -> bool:
    """Whether source holds code's lines in a row, at any one indentation (the formatter writes
    a block of a page at the left margin, the file may hold it indented)."""
    want = textwrap.dedent(code).strip("\n").splitlines()
    lines = source.splitlines()
    for i in range(len(lines) - len(want) + 1):
        if textwrap.dedent("\n".join(lines[i : i + len(want)])).splitlines() == want:
            return True
    return False


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_example_block(block: Block, capsys: Any) -> None:
    if block.excerpt_of is not None:
        assert _holds_excerpt((ROOT / block.excerpt_of).read_text(), block.code), (
            f"block {block.id} ({block.where}) is introduced as an "
            f"excerpt of {block.excerpt_of}, which no longer holds it"
        )
        return
    skip_if_missing(block)
    run = run_block(block, capsys)
    # an example that ends with a network ends with a finite one
    net, X = run.ns.get("net"), run.ns.get("X")
    if isinstance(net, cr.Network) and X is not None:
        assert np.all(np.isfinite(net.predict(X)))
    errors = []
    for claim in output_claims(padded(block)):
        texts = [t for n in range(claim.first, claim.last + 1) for t in run.printed.get(n, [])]
        if len(texts) != 1:
            errors.append(f"line {claim.first}: the print ran {len(texts)} times, not once")
            continue
        error = claim_error(claim.kind, claim.text, texts[0])
        if error:
            errors.append(f"line {claim.first} ({claim.comment}): {error}")
    assert not errors, f"block {block.id} ({block.where}):\n" + "\n".join(errors)
    if block.id in BLOCK_CHECKS:
        BLOCK_CHECKS[block.id](run)


def _demo_lines(capsys: Any, **kwargs: Any) -> List[str]:
    from chainrule import demo

    demo.run(**kwargs)
    return capsys.readouterr().out.splitlines()


def _line_error(shown: str, actual: str) -> Optional[str]:
    """Text equal, numbers to 1e-4 relative (6 significant digits are shown; another platform's
    libm may move the last one)."""
    split = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    a, b = re.split(split, shown.rstrip()), re.split(split, actual.rstrip())
    if len(a) != len(b) or a[0::2] != b[0::2]:
        return f"README shows {shown!r}, the demo printed {actual!r}"
    for x, y in zip(a[1::2], b[1::2]):
        if not float(y) == pytest.approx(float(x), rel=1e-4):
            return f"README shows {shown!r}, the demo printed {actual!r}"
    return None


def test_readme_demo_section(capsys: Any) -> None:
    """The demo section's sample output is the demo's (with '...' for left-out lines), and its
    prose figures are the demo's."""
    section = [b for b in BLOCKS if b.heading == "The demo"]
    assert len(section) == 1 and section[0].lang == "", "the demo section shows one output block"
    shown = section[0].code.splitlines()
    actual = _demo_lines(capsys)
    pos, skipping = 0, False
    for line in shown:
        if line.strip() == "...":
            skipping = True
            continue
        while skipping and pos < len(actual) and _line_error(line, actual[pos]):
            pos += 1
        assert pos < len(actual), f"README's demo output line {line!r} is not in the output"
        error = _line_error(line, actual[pos])
        assert not error, error
        pos, skipping = pos + 1, False
    # "1 - multiple" as a percentage, after the default run
    text = section[0].section
    multiples = [float(m) for m in re.findall(r"= ([\d.]+) x baseline", "\n".join(actual))]
    assert len(multiples) == 2
    _in_prose(
        text,
        f"{round(100 * (1 - multiples[0]))}% for the first network and "
        f"{round(100 * (1 - multiples[1]))}% for the second",
    )
    # the longer run the text quotes
    longer = re.search(r"`python -m chainrule demo --epochs (\d+)` ends at", text)
    assert longer, "the demo section quotes a longer run"
    finals = re.findall(
        r"final loss (\S+) .*= (\S+) x baseline",
        "\n".join(_demo_lines(capsys, epochs=int(longer.group(1)), every=10**6)),
    )
    assert len(finals) == 2
    _in_prose(text, " and ".join(f"{m} x baseline (loss {float(loss):.3g})" for loss, m in finals))


def test_readme_commands_exist() -> None:
    assert "python -m chainrule demo" in README
    assert "bash tests/run_all.sh" in README
    assert (ROOT / "tests" / "run_all.sh").exists()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash tests/run_all.sh" in ci


# ---- the helpers above, on small inputs --------------------------------------------------------


def test_needed_modules_finds_imports_and_method_calls() -> None:
    code = (
        "import numpy as np\nimport torch.nn\nfrom sklearn.datasets import load_digits\n"
        "from . import sibling\ndef f():\n    import pandas\nnet.to_onnx('m.onnx')\n"
    )
    assert needed_modules(code) == ["numpy", "torch", "sklearn", "pandas", "onnx"]


def test_a_block_needing_a_missing_optional_module_is_skipped(monkeypatch: Any) -> None:
    torch_block = next(b for b in PYTHON_BLOCKS if "import torch" in b.code)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("torch", "onnx") else real(name, *a),
    )
    assert missing_modules(torch_block.code) == ["torch", "onnx"]
    with pytest.raises(pytest.skip.Exception, match=r"needs torch, onnx, not installed"):
        test_example_block(torch_block, None)
    # a missing module that is not optional is a failure, not a skip
    with pytest.raises(AssertionError, match="not an optional module"):
        skip_if_missing(Block("python", "x", 1, 1, "import no_such_module_here\n"))


def test_output_comment_rule() -> None:
    assert classify("# 0.1 0.05 0.025") == ("exact", "0.1 0.05 0.025")
    assert classify("# SGD(lr=0.05, ...)") == ("exact", "SGD(lr=0.05, ...)")
    assert classify("# about 0.1382: epoch 23's weights") == ("about", "0.1382")
    assert classify("# ~1e-9: the derivative above is right") == ("order", "1e-9")
    assert classify("# e.g. {'kernel': 'avx512', ...}") == ("example", "{'kernel': 'avx512', ...}")
    assert classify("# each layer's Z/H/dZ, W/dW, b/db shapes and params") is None
    assert classify("# (100, 1)") == ("exact", "(100, 1)")
    assert claim_error("exact", "SGD(lr=0.05, ...)", "SGD(lr=0.05, momentum=0.9)\n") is None
    assert claim_error("exact", "0.1 0.05", "0.1 0.5\n")
    assert claim_error("about", "0.942", "0.9416\n") is None
    assert claim_error("about", "0.95", "0.8898\n")
    assert claim_error("about", "0.97", "0.966\n") is None  # rounds to 0.97
    assert claim_error("about", "0.97", "0.96\n")
    assert claim_error("about", "0.95", "0.9416\n")
    assert claim_error("order", "1e-9", "8.5e-11\n") is None
    assert claim_error("order", "1e-9", "2e-8\n")
    assert claim_error("example", "{'kernel': 'avx512', ...}", "{'kernel': 'portable'}") is None
    assert claim_error("example", "{'kernel': 'avx512', ...}", "{'threads': 2}")
    claims = output_claims("x = 1\nprint(x,\n      x)  # 1 1\nprint(x)  # the value of x\n")
    assert [(c.first, c.last, c.kind, c.text) for c in claims] == [(2, 3, "exact", "1 1")]


def test_excerpts_are_recognised() -> None:
    text = "the oracle in `tests/reference.py`:\n\n```python\nimport numpy\n```\n"
    (block,) = parse_blocks(text, ROOT / "docs" / "x.md")
    assert block.excerpt_of == "tests/reference.py" and block.id == "x-top-1"
    # a path that is not a file of the repository, or prose that does not end with it, is not
    for intro in ("see `tests/no_such_file.py`:", "`tests/reference.py` holds it. Run:"):
        (block,) = parse_blocks(intro + "\n```python\nx = 1\n```\n", ROOT / "docs" / "x.md")
        assert block.excerpt_of is None
