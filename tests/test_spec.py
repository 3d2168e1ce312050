"""Experiment scripts: every bad input gets one line naming the file, the field, the value and what is allowed."""
import pytest

from reportgen.declare import Adam, Experiment, LeakyReLU, MLP, SpecError, config
from reportgen.declare.load import load


def write(tmp_path, body, name="exp.py"):
    path = tmp_path / name
    path.write_text("from reportgen.declare import *\n" + body)
    return path


@pytest.mark.parametrize("body, words", [
    ("EXPERIMENT = Experiment(name='a', model=MLP(depth=-3))", ["exp.py:2", "MLP.depth = -3", "from 1 to 10000"]),
    ("EXPERIMENT = Experiment(name='a', model=MLP(dpth=3))", ["exp.py:2", "unknown field 'dpth'", "depth, width"]),
    ("EXPERIMENT = Experiment(name='a', model=MLP(depth='3'))", ["MLP.depth = '3'", "expected int"]),
    ("EXPERIMENT = Experiment(name='a', model=MLP(activation='relu'))", ["MLP.activation", "LeakyReLU(...)"]),
    ("EXPERIMENT = Experiment(name='a', optimizer=Adam(lr=0))", ["Adam.lr = 0", "> 0"]),
    ("EXPERIMENT = Experiment(name='a', optimizer=Adam(lr=(3e-5, -1.0)))", ["Adam.lr", "pair"]),
    ("EXPERIMENT = Experiment(name='Bad Name')", ["Experiment.name = 'Bad Name'", "lower-case"]),
    ("EXPERIMENT = Experiment(name='a', epochs=0)", ["Experiment.epochs = 0"]),
    ("EXPERIMENT = Experiment(name='a', device='tpu')", ["Experiment.device = 'tpu'", "cuda"]),
    ("EXPERIMENT = Experiment(name='a', model=MLP(depth=2), bogus=1)", ["unknown field 'bogus'"]),
    ("EXPERIMENT = Experiment(name='a'", ["exp.py:2", "syntax error"]),
    ("x = 1 / 0", ["exp.py:2", "ZeroDivisionError"]),
    ("x = 1", ["declares no EXPERIMENT"]),
    ("EXPERIMENT = 42", ["EXPERIMENT is a int"]),
])
def test_bad_scripts_get_one_line(tmp_path, body, words):
    with pytest.raises(SpecError) as e:
        load(write(tmp_path, body))
    message = str(e.value)
    assert "\n" not in message
    for w in words:
        assert w in message


def test_overrides_are_type_checked_like_the_script():
    exp = Experiment(name="a", model=MLP(depth=16))
    assert config.override(exp, "model.depth=80").model.depth == 80
    assert config.override(exp, "model.activation=LeakyReLU(negative_slope=2)").model.activation == LeakyReLU(negative_slope=2)
    assert config.override(exp, "optimizer.lr=(3e-5, 3e-6)").optimizer.lr == (3e-5, 3e-6)
    for bad, words in [("model.depth=-3", "MLP.depth = -3"), ("model.depth=2.5", "expected int"),
                       ("model.dpth=3", "no field 'dpth'"), ("optimizer.lr=0", "Adam.lr = 0"), ("depth", "FIELD=VALUE")]:
        with pytest.raises(SpecError, match=words.replace("(", r"\(")):
            config.override(exp, bad)


def test_overrides_from_load_name_the_file(tmp_path):
    path = write(tmp_path, "EXPERIMENT = Experiment(name='a')")
    assert load(path, ("model.depth=5",))[0].model.depth == 5
    with pytest.raises(SpecError, match="exp.py: .*MLP.depth = 0"):
        load(path, ("model.depth=0",))


def test_run_id_follows_what_is_computed_not_the_words():
    a = Experiment(name="a", model=MLP(depth=80, multiplier=2.37), optimizer=Adam(lr=(3e-5, 3e-6)))
    assert config.run_id(a) == config.run_id(Experiment(name="a", model=MLP(depth=80, multiplier=2.37),
                                                    optimizer=Adam(lr=(3e-5, 3e-6))))
    assert config.run_id(a) == config.run_id(config.override(a, "title='New words'"))
    assert config.run_id(a) != config.run_id(config.override(a, "model.depth=81"))
    assert config.run_id(a) != config.run_id(config.override(a, "seed=1"))


def test_config_round_trips():
    a = Experiment(name="a", model=MLP(activation=LeakyReLU(negative_slope=2.25)), tags=("x", "y"))
    assert config.from_dict(config.to_dict(a)) == a


def test_a_script_may_star_import_the_declarations_without_torch(tmp_path):
    import subprocess
    import sys
    (tmp_path / "x.py").write_text("from reportgen import *\nEXPERIMENT = Experiment(name='x', model=MLP(depth=3))\n")
    code = ("import sys; from reportgen.declare.load import load; exp, = load(sys.argv[1]); "
            "print(exp.model.depth, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.py")], capture_output=True, text=True)
    assert out.stdout.split() == ["3", "False"], out.stderr
