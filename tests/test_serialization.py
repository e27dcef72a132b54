"""save/load, pickle and deepcopy: bit-exact round trips, exact resumption, safe loading."""

import copy
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from conftest import ALL_ACTIVATIONS, ALL_LOSSES, required_output, spec_id

import chainrule as cr
from chainrule import model_archive, serialization

# every built-in activation (and the parameterised ones off their defaults), one per layer
ACTS = list(ALL_ACTIVATIONS) + [cr.LeakyReLU(alpha=0.3)]


def _data(n0, nL, m=40, onehot=False, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n0))
    Y = np.eye(nL)[rng.integers(0, nL, m)] if onehot else rng.normal(size=(m, nL))
    return X, Y


def _same_params(a, b):
    return all(
        np.array_equal(x, y) and x.dtype == y.dtype
        for x, y in zip(list(a.weights) + list(a.biases), list(b.weights) + list(b.biases))
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ALL_LOSSES, ids=spec_id)
def test_round_trip_is_bit_exact(tmp_path, dtype, loss):
    out = required_output(loss) or "linear"
    sizes = [4] + [5] * len(ACTS) + [3]
    net = cr.Network(sizes, ACTS + [out], loss, dtype=dtype, seed=2)
    X, Y = _data(4, 3, onehot=required_output(loss) == "softmax")
    if required_output(loss) == "sigmoid":
        Y = (Y > 0).astype(float)
    net.fit(X, Y, epochs=2, lr=0.05, batch_size=8, shuffle=True)
    path = tmp_path / "net.npz"
    net.save(path, metadata={"labels": ["a", "b", "c"], "note": "x"})
    back, meta = cr.load(path, with_metadata=True)
    assert meta == {"labels": ["a", "b", "c"], "note": "x"}
    assert back.layer_sizes == net.layer_sizes and back.dtype == net.dtype
    assert [repr(a) for a in back.activations] == [repr(a) for a in net.activations]
    assert repr(back.loss_function) == repr(net.loss_function)
    assert back.loss_function == net.loss_function and back.activations == net.activations
    assert _same_params(back, net)
    assert back.history == net.history
    assert np.array_equal(back.predict(X), net.predict(X))


def test_training_resumes_exactly(tmp_path):
    X, Y = _data(3, 2)
    net = cr.Network([3, 8, 2], ["tanh", "linear"], seed=5)
    net.fit(X, Y, epochs=3, lr=0.05, batch_size=7, shuffle=True)
    net.save(tmp_path / "mid.npz")
    resumed = cr.load(tmp_path / "mid.npz")
    h1 = net.fit(X, Y, epochs=4, lr=0.05, batch_size=7, shuffle=True)
    h2 = resumed.fit(X, Y, epochs=4, lr=0.05, batch_size=7, shuffle=True)
    assert h1.loss == h2.loss
    assert _same_params(net, resumed)


@pytest.mark.parametrize(
    "optimizer",
    [
        cr.Adam(lr=0.01),
        cr.SGD(lr=0.05, momentum=0.9, nesterov=True),
        cr.RMSprop(lr=0.01, centered=True),
        cr.AdamW(lr=0.01),
    ],
)
def test_optimizer_state_resumes_exactly(tmp_path, optimizer):
    X, Y = _data(3, 2)
    net = cr.Network([3, 8, 2], ["tanh", "linear"], seed=5, optimizer=optimizer)
    net.fit(X, Y, epochs=3, batch_size=7, shuffle=True)
    net.save(tmp_path / "mid.npz")
    resumed = cr.load(tmp_path / "mid.npz")
    assert resumed.optimizer == net.optimizer
    before, after = net.get_optimizer_state(), resumed.get_optimizer_state()
    assert before["step"] == after["step"] > 0
    for name in before["buffers"]:
        for a, b in zip(before["buffers"][name], after["buffers"][name]):
            assert np.array_equal(a, b)
    h1 = net.fit(X, Y, epochs=4, batch_size=7, shuffle=True)
    h2 = resumed.fit(X, Y, epochs=4, batch_size=7, shuffle=True)
    assert h1.loss == h2.loss
    assert _same_params(net, resumed)


@cr.register_activation
class Cube(cr.Activation):
    name = "cube_for_tests"

    def __init__(self, scale=1.0):
        self.scale = scale

    def forward(self, z):
        return self.scale * z**3

    def derivative(self, z, h):
        return 3 * self.scale * z**2

    def get_params(self):
        return {"scale": self.scale}


class Unregistered(cr.Activation):
    def forward(self, z):
        return z

    def derivative(self, z, h):
        return np.ones_like(z)


@cr.register_loss
class Quartic(cr.Loss):
    name = "quartic_for_tests"

    def value(self, yhat, y):
        return float(np.sum((yhat - y) ** 4) / len(y))

    def gradient(self, yhat, y):
        return 4 * (yhat - y) ** 3


def test_custom_activation_and_loss_through_the_registry(tmp_path):
    net = cr.Network([2, 3, 1], [Cube(scale=0.5), "linear"], Quartic(), seed=0)
    net.save(tmp_path / "c.npz")
    back = cr.load(tmp_path / "c.npz")
    assert isinstance(back.activations[0], Cube) and back.activations[0].scale == 0.5
    assert isinstance(back.loss_function, Quartic)
    X, _ = _data(2, 1)
    assert np.array_equal(back.predict(X), net.predict(X))


class Square(cr.Activation):  # no name attribute: registered under a name of the caller's
    def forward(self, z):
        return z * z

    def derivative(self, z, h):
        return 2 * z


class Absolute(cr.Loss):
    def value(self, yhat, y):
        return float(np.sum(np.abs(yhat - y)) / len(y))

    def gradient(self, yhat, y):
        return np.sign(yhat - y)


cr.register_activation(Square, name="square_under_another_name")
cr.register_loss(Absolute, name="absolute_under_another_name")


def test_classes_registered_under_a_name_are_saved_by_it(tmp_path):
    """register_*(cls, name=...): the file names the class as it was registered, which load
    finds (it named the default, 'square', which load did not)."""
    net = cr.Network([2, 3, 1], [Square(), "linear"], Absolute(), seed=0)
    net.save(tmp_path / "n.npz")
    back = cr.load(tmp_path / "n.npz")
    assert isinstance(back.activations[0], Square)
    assert isinstance(back.loss_function, Absolute)
    X, _ = _data(2, 1)
    assert np.array_equal(back.predict(X), net.predict(X))


def test_unregistered_custom_activation_is_a_clear_error(tmp_path):
    net = cr.Network([2, 3, 1], [Unregistered(), "linear"])
    net.save(tmp_path / "u.npz")
    with pytest.raises(ValueError, match="layer 1 .*'unregistered'.*register_activation"):
        cr.load(tmp_path / "u.npz")


def test_register_validates():
    with pytest.raises(TypeError):
        cr.register_activation(int)
    with pytest.raises(TypeError):
        cr.register_loss(Cube)


@pytest.mark.parametrize(
    "copier", [lambda n: pickle.loads(pickle.dumps(n)), copy.deepcopy, copy.copy]
)
def test_pickle_and_copies(copier):
    X, Y = _data(2, 1)
    for acts in (["relu", "linear"], [Unregistered(), "linear"]):  # pickle needs no registry
        net = cr.Network([2, 4, 1], acts, seed=1)
        net.fit(X, Y, epochs=2, lr=0.1, shuffle=True, batch_size=9)
        twin = copier(net)
        assert twin is not net and _same_params(twin, net)
        assert twin.history == net.history
        twin.fit(X, Y, epochs=1, lr=0.1)  # independent storage
        assert not _same_params(twin, net)


@pytest.mark.parametrize(
    "copier", [lambda n: pickle.loads(pickle.dumps(n)), copy.deepcopy, copy.copy]
)
def test_pickle_and_copies_keep_the_users_own_attributes(copier):
    """They were dropped: a pickle or a deepcopy of a network carried its model but not
    ``net.note = ...``, as a torch.nn.Module's copy does."""
    X, Y = _data(2, 1)
    net = cr.Network([2, 4, 1], seed=1)
    net.fit(X, Y, epochs=1)
    net.note, net.scores, net._mine = "baseline", [0.5, 0.25], 7
    net.me = net  # a reference to the network itself comes back as the copy
    twin = copier(net)
    assert (twin.note, twin.scores, twin._mine) == ("baseline", [0.5, 0.25], 7)
    assert twin.me is twin if copier is not copy.copy else twin.me is net
    assert (twin.scores is net.scores) == (copier is copy.copy)  # copy.copy: shallow
    assert "_core" not in vars(net) or twin._core is not net._core


def test_the_networks_own_attributes_are_all_listed():
    """What pickle leaves to the model file: every attribute a network sets itself, through
    construction, fit (validation, diagnostics) and the passes."""
    X, Y = _data(2, 1)
    net = cr.Network([2, cr.Dense(4), cr.Dropout(0.1), 1], seed=1)
    net.fit(X, Y, epochs=2, validation_split=0.2, diagnostics=True, verbose=0)
    net.predict(X)
    net.forward(X)
    assert set(vars(net)) <= cr.Network._OWN_ATTRIBUTES
    assert set(vars(copy.deepcopy(net))) <= cr.Network._OWN_ATTRIBUTES


def test_save_rejects_metadata_that_is_not_json(tmp_path):
    net = cr.Network([2, 1], ["linear"])
    with pytest.raises(ValueError, match="JSON"):
        net.save(tmp_path / "m.npz", metadata={"x": object()})
    with pytest.raises(ValueError, match="JSON"):
        net.save(tmp_path / "m.npz", metadata={"x": float("nan")})
    assert not os.path.exists(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="metadata must be a dict, got list"):
        net.save(tmp_path / "m.npz", metadata=["run 7", 0.5])  # (load takes a dict only)
    assert not os.path.exists(tmp_path / "m.npz")


def _inf_weights(net):  # a step with too large an lr: finite gradients, inf weights
    net.step(net.gradients(np.ones((4, 3)), np.zeros((4, 1))), lr=1e308)


def _nan_running_mean(net):  # an in-place write through a live view, which nothing can see
    net.buffers["running_mean2"][0] = np.nan


def _inf_adam_state(net):  # gradients of 1e200: exp_avg_sq overflows, the weights stay finite
    g = net.gradients(np.ones((4, 3)), np.zeros((4, 1))).parameters
    net.step({k: np.full(v.shape, 1e200) for k, v in g.items()}, lr=1e-3)
    assert all(np.isfinite(v).all() for v in net.parameters.values())


@pytest.mark.parametrize(
    "spoil, named, hint",
    [
        (_inf_weights, "parameter W1", "assign finite values"),
        (_nan_running_mean, "buffer running_mean2", "assign finite values"),
        (_inf_adam_state, "the optimizer's 'exp_avg_sq' of W1", "net.optimizer = net.optimizer"),
    ],
)
def test_a_network_holding_nan_or_inf_is_not_written(tmp_path, spoil, named, hint):
    """save and pickle wrote such a network without complaint, and then load and unpickling
    refused what they wrote ("inconsistent model: parameter W1 contains NaN or inf"): a
    checkpoint that cannot be read back. They refuse before writing, naming the tensor."""
    net = cr.Network(
        [3, cr.Dense(4, "tanh"), cr.BatchNorm(), cr.Dense(1)], seed=0, optimizer="adam"
    )
    path = tmp_path / "m.npz"
    net.save(path)
    good = path.read_bytes()
    spoil(net)
    for call, what in (
        (lambda: net.save(path), "save"),
        (lambda: pickle.dumps(net), "pickling a Network"),
        (lambda: copy.deepcopy(net), "pickling a Network"),
    ):
        with pytest.raises(ValueError) as e:
            call()
        message = str(e.value)
        assert message.startswith(f"{what}: {named} contains NaN or inf"), message
        assert "load and unpickling refuse" in message and hint in message, message
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["m.npz"]  # left in place
    if spoil is _inf_adam_state:
        net.optimizer = net.optimizer  # the hint's remedy
        net.save(path)
        for k, v in cr.load(path).parameters.items():
            np.testing.assert_array_equal(v, net.parameters[k])
        pickle.loads(pickle.dumps(net))


def test_a_numpy_integer_seed_saves_as_an_int(tmp_path):
    net = cr.Network([2, 3, 1], seed=np.int64(5))
    assert net.seed == 5 and type(net.seed) is int
    twin = cr.Network([2, 3, 1], seed=5)
    assert _same_params(net, twin) and net.get_rng_state() == twin.get_rng_state()
    net.save(tmp_path / "m.npz")
    assert cr.load(tmp_path / "m.npz").seed == 5
    assert pickle.loads(pickle.dumps(net)).seed == 5
    assert copy.deepcopy(net).seed == 5


# ---- hostile and broken files --------------------------------------------------------------------


def _model_bytes():
    net = cr.Network([3, 4, 2], ["tanh", "linear"], seed=0)
    return serialization.to_bytes(net)


def _rewrite(data: bytes, replace=None, drop=(), add=None) -> bytes:
    """The archive with members replaced (name -> bytes), dropped or added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            body = (replace or {}).get(info.filename, src.read(info))
            dst.writestr(info.filename, body)
        for name, body in (add or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _header_bytes(data: bytes) -> dict:
    arr = np.load(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read("header.npy")))
    return json.loads(arr.tobytes())


def _with_header(data: bytes, **changes) -> bytes:
    h = _header_bytes(data)
    h.update(changes)
    return _rewrite(data, {"header.npy": _npy(np.frombuffer(json.dumps(h).encode(), np.uint8))})


def _load_bytes(tmp_path, data, name="bad.npz"):
    p = tmp_path / name
    p.write_bytes(data)
    return cr.load(p)


def test_loads_what_it_saves_from_bytes(tmp_path):
    net = _load_bytes(tmp_path, _model_bytes())
    assert net.layer_sizes == [3, 4, 2]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(format="something.else"), "not a chainrule model"),
        (dict(version=99), "newer than this chainrule reads"),
        (dict(version="1"), "invalid format version"),
        (dict(dtype="float16"), "invalid dtype"),
        (dict(layer_sizes=[3, 0, 2]), "invalid layer_sizes"),
        (dict(layer_sizes=[3, 4]), "expected 1 activations"),
        (dict(layer_sizes=[3, 4, 5]), "shape"),
        (dict(layer_sizes=[100_000, 100_000, 100_000]), "more than the limit"),
        (dict(activations=[{"name": "tanh"}, {"name": "nope"}]), "layer 2: invalid activation"),
        (
            dict(activations=[{"name": "tanh", "params": {"alpha": 1}}, {"name": "linear"}]),
            "layer 1: invalid activation",
        ),
        (dict(loss={"name": "hinge"}), "invalid loss"),
        (dict(state={"rng": {"bit_generator": "Nope"}}), "random generator"),
        (dict(state={"history": {"loss": ["x"]}}), "history"),
        (dict(metadata=[1, 2]), "invalid 'metadata'"),
        (dict(state={"optimizer": {"name": "nadam"}}), "invalid optimizer"),
        (
            dict(state={"optimizer": {"name": "adam", "params": {"betas": [0.9, 2.0]}}}),
            "invalid optimizer",
        ),
        (dict(state={"optimizer": {"name": "adam", "buffers": ["exp_avg"]}}), "is missing"),
        (dict(state_arrays={"opt.x.0": [10**6]}), "elements of training state"),
        # numbers JSON holds but a float cannot (an int such as 10**400)
        (dict(state={"history": {"loss": [10**400]}}), "'loss' holds a number beyond the float"),
        (
            dict(state={"optimizer": {"name": "adam", "params": {"lr": 10**400}}}),
            "Adam: lr must be within the float range",
        ),
        (
            dict(
                activations=[{"name": "elu", "params": {"alpha": -(10**400)}}, {"name": "linear"}]
            ),
            "ELU: alpha must be within the float range",
        ),
        (
            dict(loss={"name": "huber", "params": {"delta": 10**400}}),
            "Huber: delta must be within the float range",
        ),
    ],
)
def test_bad_headers_are_clear_errors(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        _load_bytes(tmp_path, _with_header(_model_bytes(), **change))


def test_huge_claimed_network_is_rejected_before_allocating(tmp_path):
    """layer sizes under the parameter limit but far beyond the file: the arrays' recorded sizes
    give it away before the network (and its buffers) is built."""
    data = _with_header(_model_bytes(), layer_sizes=[3, 30_000, 2])
    with pytest.raises(ValueError, match="shape|bytes"):
        _load_bytes(tmp_path, data)


@pytest.mark.parametrize(
    "arr, message",
    [
        (np.zeros((3, 4), np.float32), "dtype float32, expected float64"),
        (np.zeros((4, 3)), r"shape \(4, 3\)"),
        (np.zeros((3, 4), order="F"), "Fortran"),
        (np.array([{"a": 1}], dtype=object), "dtype object"),
    ],
)
def test_bad_arrays_are_clear_errors(tmp_path, arr, message):
    with pytest.raises(ValueError, match=message):
        _load_bytes(tmp_path, _rewrite(_model_bytes(), {"W1.npy": _npy(arr)}))


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_chainrule_test",))


def test_pickled_payload_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = _npy(np.array([_Payload()], dtype=object))
    for member in ("W1.npy", "header.npy"):
        with pytest.raises(ValueError):
            _load_bytes(tmp_path, _rewrite(_model_bytes(), {member: evil}))
    assert not (tmp_path / "pwned_by_chainrule_test").exists()


def test_missing_member_and_not_a_zip(tmp_path):
    with pytest.raises(ValueError, match="'b2' is missing"):
        _load_bytes(tmp_path, _rewrite(_model_bytes(), drop=("b2.npy",)))
    with pytest.raises(ValueError, match="not a valid .npz"):
        _load_bytes(tmp_path, b"definitely not a zip file")
    with pytest.raises(ValueError, match="not a valid .npz"):
        _load_bytes(tmp_path, b"")
    with pytest.raises(FileNotFoundError):
        cr.load(tmp_path / "does-not-exist.npz")


def test_zip_bomb_member_is_rejected(tmp_path, monkeypatch):
    """A deflated member whose size is out of proportion to its compressed bytes is refused
    before it is inflated. Real deflate stops near 1032:1; a W1 of zeros reaches ~500:1, so
    the test lowers the limit to 10:1 to exercise the check with a small file."""
    data = _model_bytes()
    h = _header_bytes(data)
    h["layer_sizes"] = [3, 4000, 2]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        dst.writestr("header.npy", _npy(np.frombuffer(json.dumps(h).encode(), np.uint8)))
        dst.writestr("W1.npy", _npy(np.zeros((3, 4000))))
    monkeypatch.setattr(model_archive, "_DEFLATE_MAX_RATIO", 10)
    with pytest.raises(ValueError, match="impossible compression ratio"):
        _load_bytes(tmp_path, out.getvalue())


def test_a_header_over_64_mib_loads(tmp_path):
    """The header has no shape to check its size against: past 64 MiB it loads when the file
    holds it, as save writes it (stored, uncompressed). Here the bulk is metadata, which is
    quick to write; a long history or diagnostics records take the same path."""
    net = cr.Network([3, 4, 2], ["tanh", "linear"], seed=0)
    notes = "x" * (65 << 20)
    net.save(tmp_path / "big.npz", metadata={"notes": notes})
    back, meta = cr.load(tmp_path / "big.npz", with_metadata=True)
    assert meta["notes"] == notes and _same_params(back, net)


def test_a_long_history_and_diagnostics_load_back(tmp_path, monkeypatch):
    """Whatever history and diagnostics records a fit has made, save writes and load, pickle
    and deepcopy read back, past the header size any file may have (64 MiB, lowered here to
    64 KiB to keep the test small: 700,000 epochs of a tiny network, or some thousands with
    histograms, reach 64 MiB)."""
    monkeypatch.setattr(model_archive, "_MAX_HEADER_BYTES", 1 << 16)
    X, Y = _data(2, 1)
    net = cr.Network([2, 4, 1], ["tanh", "linear"], seed=0)
    net.fit(X, Y, epochs=300, diagnostics=True, validation_data=(X, Y))
    net.save(tmp_path / "m.npz")  # (as ModelCheckpoint saves)
    header = zipfile.ZipFile(tmp_path / "m.npz").getinfo("header.npy")
    assert header.file_size > 2 * model_archive._MAX_HEADER_BYTES
    for back in (
        cr.load(tmp_path / "m.npz"),
        pickle.loads(pickle.dumps(net)),
        copy.deepcopy(net),
    ):
        assert back.history.history == net.history.history
        assert back.history.diagnostics.to_json() == net.history.diagnostics.to_json()


def _deflated(data: bytes) -> bytes:
    """The archive with every member deflated (save stores them)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return out.getvalue()


def test_a_compressed_header_past_the_floor_inflates_at_most_32_times(tmp_path, monkeypatch):
    """Past the size any file may have (lowered here to 64 KiB), a deflated header loads when
    it inflates by at most 32:1, as JSON numbers do (about 2:1), so that a small file cannot
    claim a huge header."""
    monkeypatch.setattr(model_archive, "_MAX_HEADER_BYTES", 1 << 16)
    net = cr.Network([3, 4, 2], ["tanh", "linear"], seed=0)
    numbers = np.random.default_rng(0).random(20_000).tolist()
    (tmp_path / "ok.npz").write_bytes(_deflated(serialization.to_bytes(net, {"n": numbers})))
    assert cr.load(tmp_path / "ok.npz", with_metadata=True)[1] == {"n": numbers}
    bomb = _deflated(serialization.to_bytes(net, {"n": "x" * 1_000_000}))
    with pytest.raises(ValueError, match=r"the header inflates from \d+ to \d+ bytes.*32:1"):
        _load_bytes(tmp_path, bomb)


def _claiming(data: bytes, member: str, size: int) -> bytes:
    """The archive with ``member``'s central directory entry claiming ``size`` bytes, stored
    and uncompressed, whatever the archive holds."""
    buf = bytearray(data)
    at = buf.find(b"PK\x01\x02")
    while buf[at + 46 : at + 46 + len(member)] != member.encode():
        at = buf.find(b"PK\x01\x02", at + 4)
    buf[at + 20 : at + 28] = size.to_bytes(4, "little") * 2
    return bytes(buf)


def test_a_header_larger_than_the_file_is_refused_before_reading(tmp_path):
    """The member's claimed size is checked against the archive's own size, not trusted."""
    data = _claiming(_model_bytes(), "header.npy", 200 << 20)
    with pytest.raises(ValueError, match=rf"the header claims {200 << 20} bytes, more than the"):
        _load_bytes(tmp_path, data)


def test_a_header_nested_too_deeply_is_a_clear_error(tmp_path):
    """JSON nested deeper than the parser recurses: a hostile file's ValueError, not a
    RecursionError."""
    text = json.dumps({**_header_bytes(_model_bytes()), "metadata": "@"})
    text = text.replace('"@"', "[" * 100_000 + "]" * 100_000)
    data = _rewrite(_model_bytes(), {"header.npy": _npy(np.frombuffer(text.encode(), np.uint8))})
    with pytest.raises(ValueError, match=r"the header is not valid JSON \(it nests too deeply\)"):
        _load_bytes(tmp_path, data)


def test_diagnostics_nested_too_deeply_are_a_clear_error():
    """Lists nested deeper than Python recurses, in a diagnostics record of a training state
    (a file's may nest almost as deep as json reads them): ValueError, the network unchanged."""
    X, Y = _data(3, 2)
    net = cr.Network([3, 4, 2], ["tanh", "linear"], seed=0)
    net.fit(X, Y, epochs=1, diagnostics=True)
    state, arrays = net.get_training_state()
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    state["diagnostics"][0]["layers"][0]["h_mean"] = nested
    before = net.history.diagnostics.to_json()
    with pytest.raises(ValueError, match="invalid diagnostics records"):
        net.set_training_state(state, arrays)
    assert net.history.diagnostics.to_json() == before


def test_truncated_and_mutated_files_raise_value_error(tmp_path):
    """Every truncation point and a few hundred random byte mutations: each load either
    succeeds with finite parameters of the saved shapes or raises ValueError."""
    data = _model_bytes()
    rng = np.random.default_rng(0)
    cases = [data[:n] for n in range(0, len(data), max(1, len(data) // 150))]
    for _ in range(300):
        buf = bytearray(data)
        for _ in range(rng.integers(1, 6)):
            buf[rng.integers(0, len(buf))] = rng.integers(0, 256)
        cases.append(bytes(buf))
    outcomes = {"ok": 0, "error": 0}
    for i, case in enumerate(cases):
        try:
            net = _load_bytes(tmp_path, case, f"m{i}.npz")
        except ValueError:
            outcomes["error"] += 1
        else:
            outcomes["ok"] += 1
            assert net.layer_sizes == [3, 4, 2]
    assert outcomes["error"] > 0


def test_a_history_with_an_infinite_validation_loss_saves_and_pickles(tmp_path):
    """A validation row far out gives an infinite val_loss while training goes on: the file's
    JSON writes it as "inf" (as the diagnostics do), and it comes back as a float."""
    X, Y = _data(2, 1)
    net = cr.Network([2, 4, 1], ["relu", "linear"], seed=0)
    net.fit(X, Y, epochs=2, validation_data=(np.array([[1e200, 1e200]]), np.array([[0.0]])))
    assert net.history.val_loss == [float("inf")] * 2
    net.save(tmp_path / "inf.npz")
    for back in (
        cr.load(tmp_path / "inf.npz"),
        pickle.loads(pickle.dumps(net)),
        copy.deepcopy(net),
    ):
        assert back.history.val_loss == [float("inf")] * 2
        assert back.history.loss == net.history.loss
    state, arrays = net.get_training_state()
    assert state["history"]["val_loss"] == ["inf", "inf"]
    state["history"]["val_loss"] = ["nan", "-inf"]
    net.set_training_state(state, arrays)
    assert np.isnan(net.history.val_loss[0]) and net.history.val_loss[1] == float("-inf")
    state["history"]["val_loss"] = ["infinity", 1.0]  # only the three spellings written
    with pytest.raises(ValueError, match="invalid training history"):
        net.set_training_state(state, arrays)


def test_save_onto_a_directory_names_it(tmp_path):
    """The error named only the temporary file the rename came from."""
    net = cr.Network([2, 1], ["linear"])
    with pytest.raises(IsADirectoryError, match=r"save: .* is a directory: name a file, such as"):
        net.save(tmp_path)
    assert os.listdir(tmp_path) == []
