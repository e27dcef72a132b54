"""What Jupyter shows: Network and History render as HTML tables (``_repr_html_``) holding the
same figures as their text forms."""

import html
import re
from html.parser import HTMLParser

import numpy as np

import chainrule as cr


class _Table(HTMLParser):
    """The cells of an HTML fragment's table rows, and whether its tags are balanced."""

    def __init__(self):
        super().__init__()
        self.rows, self.stack, self.text = [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        else:
            self.text.append(data)


def _parse(fragment):
    t = _Table()
    t.feed(fragment)
    t.close()
    assert t.stack == [], "unclosed tags"
    return t


def test_network_html_is_the_summary_table():
    net = cr.Network([3, cr.Dense(5, cr.LeakyReLU(alpha=0.2)), cr.BatchNorm(), 2], seed=0)
    t = _parse(net._repr_html_())
    text_rows = [re.split(r"\s{2,}", line.strip()) for line in net.summary().splitlines()]
    assert t.rows[0] == ["layer", "kind", "Z, H, dZ", "parameters", "params"]
    assert t.rows[1] == ["0 (input)", "", "X: (m, 3)", "", ""]
    assert t.rows[2][:3] == ["1", repr(net.layer_configs[0]), "(m, 5)"]
    assert t.rows[3][1] == repr(net.layer_configs[1])
    assert [r[-1] for r in t.rows[2:]] == [r[-1] for r in text_rows[4:-1]]
    assert f"total parameters: {net.n_params:,}" in "".join(t.text)
    assert net.summary().splitlines()[0] in "".join(t.text)  # the title, unescaped


def test_network_html_escapes_what_it_shows():
    class Tagged(cr.Activation):
        def __init__(self, tag="<b>x</b>"):
            self.tag = tag

        def forward(self, z):
            return z

        def derivative(self, z, h):
            return np.ones_like(z)

    net = cr.Network([2, 3, 1], [Tagged(), "linear"])
    assert "<b>x</b>" in net.summary()
    fragment = net._repr_html_()
    assert "<b>x</b>" not in fragment and html.escape("'<b>x</b>'") in fragment
    assert _parse(fragment).rows[2][1] == repr(net.layer_configs[0])  # unescaped by the parser


def test_history_html_has_one_row_per_epoch():
    X = np.random.default_rng(0).normal(size=(30, 2))
    h = cr.Network([2, 4, 1], seed=0).fit(
        X, X[:, :1], epochs=3, validation_split=0.2, metrics=["r2"]
    )
    t = _parse(h._repr_html_())
    assert t.rows[0] == ["epoch", "loss", "r2", "val_loss", "val_r2", "lr"]
    assert [r[0] for r in t.rows[1:]] == ["1", "2", "3"]
    for k, name in enumerate(t.rows[0][1:], start=1):
        assert [float(r[k]) for r in t.rows[1:]] == [float(f"{v:.6g}") for v in h.history[name]]


def test_long_history_shows_its_ends():
    h = cr.History(loss=[float(i) for i in range(50)], lr=[0.1] * 50)
    t = _parse(h._repr_html_())
    epochs = [r[0] for r in t.rows[1:]]
    assert epochs == [str(i) for i in range(1, 11)] + ["..."] + [str(i) for i in range(41, 51)]
    assert "50 epochs" in "".join(t.text)
    assert _parse(cr.History()._repr_html_()).rows == [["epoch", "loss"]]
