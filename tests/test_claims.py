"""Claims: declared and checked on load, measured from small hand-written run directories against values
computed by hand, shown on the pages and cards, and checked by `reportgen check`."""
import numpy as np
import pytest

from reportgen.check import verdicts
from reportgen.declare import (BestFalls, Diverges, DoesNotLearn, Experiment, GradientCollapse, GradientSpan, Learns,
                               MLP, Runs, SpecError, Sweep, Synthetic)
from reportgen.declare.config import run_id
from reportgen.store.entries import Entry, members
from reportgen.store.rundir import STATS, Run


def grad(first, last):
    """Gradient statistics of a net with weights 0.weight, 0.bias, 1.weight: median log10|g| per logged step."""
    g = np.zeros((len(first), 3, len(STATS)), np.float32)
    g[:, 0, 0], g[:, 1, 0], g[:, 2, 0] = first, 0.0, last
    return g


def write(path, exp, losses, accuracy, first, last, state="complete"):
    """A run of len(losses) epochs of 2 steps each, one gradient logged per step (first and last layer)."""
    run = Run(path)
    run.create(exp)
    run.write_params([("0.weight", (4, 3)), ("0.bias", (4,)), ("1.weight", (2, 4))])
    for k, (loss, acc) in enumerate(zip(losses, accuracy), 1):
        steps = np.array([2 * k - 1, 2 * k])
        run.write_epoch(k, step=steps, loss=np.array(loss, float), grad_step=steps,
                        grad=grad(first[2 * k - 2:2 * k], last[2 * k - 2:2 * k]),
                        epoch_test_accuracy=np.float64(acc))
    run.set_status(state, len(losses), 2 * len(losses))
    return run


def exp(*claims, classes=10):
    return Experiment(name="e", data=Synthetic(classes=classes), claims=claims)


def measured(tmp_path, e, **run):
    entry = Entry(e, None, write(tmp_path / "e" / "r", e, **run))
    return [(v.says, v.held, v.measured) for v in verdicts(entry)]


LEARNING = dict(losses=[(2.3, 2.0), (1.0, 0.6)], accuracy=(0.15, 0.4), first=(-8, -7, -6, -5), last=(-4, -4, -3, -3))


def test_learning_is_measured_against_the_start_and_chance(tmp_path):
    e = exp(Learns(), DoesNotLearn(), Learns(below=0.3), Learns(chance=5.0))
    # start: the first step's loss 2.3; end: the last epoch's mean (1.0 + 0.6) / 2 = 0.8 <= 0.75 * 2.3 = 1.725;
    # accuracy 40 % >= 2 * 10 %; with below=0.3: 0.8 > 0.69; with chance=5: 40 % < 50 %
    words = "training loss 2.30 → 0.80, test accuracy 40% (chance 10%)"
    assert measured(tmp_path, e, **LEARNING) == [("learns", True, words), ("does not learn", False, words),
                                                 ("learns", False, words), ("learns", False, words)]


def test_a_net_that_stays_at_chance_does_not_learn(tmp_path):
    e = exp(Learns(), DoesNotLearn(), classes=4)
    # end (2.3 + 2.25) / 2 = 2.275 > 0.95 * 2.3 = 2.185; accuracy 30 % < 1.5 * 25 %
    run = dict(LEARNING, losses=[(2.3, 2.3), (2.3, 2.25)], accuracy=(0.25, 0.3))
    words = "training loss 2.30 → 2.27, test accuracy 30% (chance 25%)"
    assert measured(tmp_path, e, **run) == [("learns", False, words), ("does not learn", True, words)]


def test_the_gradient_span_at_the_start_the_end_and_an_epoch(tmp_path):
    e = exp(GradientSpan(at="start", orders=(3.5, 4.5)), GradientSpan(at="end", orders=(-1, 1)),
            GradientSpan(at=1, orders=(-1, 1)), GradientSpan(at=3, orders=(-1, 1)))
    # start: -4 - (-8) = +4; end: the last epoch's medians, first -5.5 and last -3, so +2.5; epoch 1: -4 - (-7.5)
    assert measured(tmp_path, e, **LEARNING) == [
        ("gradient span last − first layer at start within 3.5…4.5 orders", True, "+4.0 orders (first layer 10^-8.0, last 10^-4.0)"),
        ("gradient span last − first layer at end within -1…1 orders", False, "+2.5 orders (first layer 10^-5.5, last 10^-3.0)"),
        ("gradient span last − first layer at epoch 1 within -1…1 orders", False, "+3.5 orders (first layer 10^-7.5, last 10^-4.0)"),
        ("gradient span last − first layer at epoch 3 within -1…1 orders", False, "no gradient logged at epoch 3")]


def test_the_first_layer_collapsing(tmp_path):
    e = exp(GradientCollapse(orders=3), GradientCollapse(orders=5))
    run = dict(LEARNING, first=(-4, -5, -8, -9))  # from -4 at the start to the last epoch's median -8.5
    words = "first layer 10^-4.0 → 10^-8.5: 4.5 orders down"
    assert measured(tmp_path, e, **run) == [("first layer's gradient collapses by ≥ 3 orders", True, words),
                                            ("first layer's gradient collapses by ≥ 5 orders", False, words)]


def test_divergence_and_unfinished_runs(tmp_path):
    e = exp(Diverges(), Learns(), DoesNotLearn())
    assert measured(tmp_path / "a", e, **LEARNING, state="diverged") == [
        ("diverges", True, "diverged at step 4"), ("learns", False, "diverged at step 4"),
        ("does not learn", True, "diverged at step 4")]
    assert measured(tmp_path / "b", e, **LEARNING)[0] == ("diverges", False, "finished all 4 steps")
    early = Entry(exp(Learns(), GradientSpan(), GradientCollapse()), None, Run(tmp_path / "d"))
    early.run.create(early.experiment)
    early.run.set_status("diverged", 0, 3)  # before its first epoch ended: no chunk to read
    assert [(v.held, v.measured) for v in verdicts(early)] == [
        (False, "diverged at step 3"), (False, "no gradient logged at start"), (False, "no gradient logged")]
    assert measured(tmp_path / "c", e, **LEARNING, state="running")[1] == ("learns", None, "the run is running")


def sweep(*claims, metric="train_loss"):
    return Sweep(name="s", base=Experiment(name="b", model=MLP(depth=2)), metric=metric, claims=claims,
                 grid={"optimizer.lr": (1e-3, 1e-2), "model.depth": (2, 8)})


def test_a_sweep_measures_the_runs_a_member_names_and_the_best_values(tmp_path):
    s = sweep(Runs(where={"optimizer.lr": 1e-2}, claims=(Learns(),)), BestFalls())
    entry = Entry(s, None, Run(tmp_path / "s" / "r"))
    entry.run.create(s, kind="sweep")
    ends = {"lr0.001_depth2": 1.2, "lr0.001_depth8": 0.9, "lr0.01_depth2": 0.5, "lr0.01_depth8": 2.3}
    for m in members(entry):
        end = ends[m.name.removeprefix("s.")]
        write(m.run.path, m.experiment, [(2.3, 2.3), (end, end)], (0.3, 0.3), LEARNING["first"], LEARNING["last"])
    # the metric per run and epoch, as the sweep's runner collects it; depth 2 is best at 1e-2, depth 8 at 1e-3
    entry.run.write_arrays(fields=np.array(list(s.grid)), index=np.array([[0, 0], [0, 1], [1, 0], [1, 1]]),
                           state=np.array(["complete"] * 4), metric=np.array([[2.3, v] for v in ends.values()]))
    entry.run.set_status("complete")
    assert [(v.says, v.held, v.measured) for v in verdicts(entry)] == [
        ("lr 0.01, depth 2: learns", True, "training loss 2.30 → 0.50, test accuracy 30% (chance 10%)"),
        ("lr 0.01, depth 8: learns", False, "training loss 2.30 → 2.30, test accuracy 30% (chance 10%)"),
        ("the best lr falls as depth grows", True, "best lr: depth 2 → 0.01, depth 8 → 0.001")]
    entry.run.write_arrays(fields=np.array(list(s.grid)), index=np.array([[0, 0], [0, 1], [1, 0], [1, 1]]),
                           state=np.array(["complete", "complete", "complete", "diverged"]),
                           metric=np.array([[2.3, 0.9], [2.3, 1.2], [2.3, 0.5], [2.3, np.nan]]))
    assert verdicts(entry)[-1].measured == "best lr: depth 2 → 0.01, depth 8 → 0.001"
    entry.run.write_arrays(fields=np.array(list(s.grid)), index=np.array([[0, 0], [0, 1], [1, 0], [1, 1]]),
                           state=np.array(["complete"] * 4), metric=np.array([[2.3, 0.9], [2.3, 0.4], [2.3, 0.5], [2.3, 0.3]]))
    assert verdicts(entry)[-1].held is False  # 1e-2 is best at both depths: it does not fall


def test_claims_do_not_change_a_run_id():
    plain = Experiment(name="e")
    assert run_id(Experiment(name="e", claims=(Learns(),))) == run_id(plain)
    assert run_id(sweep(BestFalls())) == run_id(sweep())


@pytest.mark.parametrize("make, says", [
    (lambda: GradientSpan(at="middle"), r"GradientSpan.at = 'middle': allowed: 'start' \(the first logged step\), 'end'"),
    (lambda: GradientSpan(orders=(3, 1)), r"GradientSpan.orders = \(3, 1\): allowed: \(low, high\) with low < high"),
    (lambda: Learns(below=1.5), "Learns.below = 1.5: allowed: a fraction of the starting loss between 0 and 1"),
    (lambda: Experiment(name="e", claims=(BestFalls(),)), "Experiment.claims = .*: expected a tuple .Learns"),
    (lambda: sweep(Learns()), r"Sweep.claims = \(Learns.*: expected a tuple \(Runs\(...\) or BestFalls"),
    (lambda: sweep(Runs(where={"optimizer.lr": 1e-4}, claims=(Learns(),))),
     "Runs.where = .*: allowed: values of the grid: optimizer.lr in 0.001, 0.01"),
    (lambda: sweep(Runs(where={"seed": 1}, claims=(Learns(),))), "Runs.where = .*: allowed: fields of the grid"),
    (lambda: sweep(BestFalls(field="seed")), "BestFalls.field = 'seed': allowed: a field of the grid with two"),
])
def test_bad_claims_are_one_clear_error(make, says):
    with pytest.raises(SpecError, match=says):
        make()


CLAIMED = """
from reportgen.declare import *
EXPERIMENT = Experiment(
    name="claimed", model=MLP(depth=4, width=16), data=Synthetic(n_train=128, n_test=32, shape=(1, 8, 8), classes=4),
    optimizer=Adam(lr=(1e-3, 1e-4)), epochs=2, batch_size=32, record=Record(every=1, snapshots=0),
    figures=("gradient_diagram",), claims=(GradientSpan(at="start", orders=(-20, 20)),{more}),
)
"""


def test_check_prints_a_line_per_claim_and_fails_when_one_fails_and_pages_show_them(tmp_path, monkeypatch, one_thread):
    from click.testing import CliRunner

    from reportgen.cli import main
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    script = tmp_path / "experiments" / "claimed.py"
    script.write_text(CLAIMED.format(more=" Diverges()"))
    missing = CliRunner().invoke(main, ["check"])
    assert missing.exit_code == 1 and missing.stdout.splitlines()[0] == "? claimed: gradient span last − first " \
        "layer at start within -20…20 orders: the run is missing"
    assert CliRunner().invoke(main, ["build"]).exit_code == 0
    done = CliRunner().invoke(main, ["check"])
    lines = done.stdout.splitlines()
    assert done.exit_code == 1 and len(lines) == 2 and done.stderr.strip() == "1 of 2 claims held"
    assert lines[0].startswith("✓ claimed: gradient span") and lines[1] == "✗ claimed: diverges: finished all 8 steps"
    page = (tmp_path / "site" / "claimed" / "index.html").read_text()
    assert '<li class="claim claim-failed"><span class="mark" title="failed">✗</span> diverges: ' in page
    assert "✗ 1 of 2 claims not held" in (tmp_path / "site" / "index.html").read_text()
    script.write_text(CLAIMED.format(more=""))  # a claim less: the same run, checked and shown again
    assert CliRunner().invoke(main, ["check"]).exit_code == 0
    rebuilt = CliRunner().invoke(main, ["build"])
    assert "ran 0" in rebuilt.output and "✓ 1 claim held" in (tmp_path / "site" / "index.html").read_text()
