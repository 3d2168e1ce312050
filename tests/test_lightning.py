"""The Lightning callback against what the LightningModule itself saw: its losses, its gradients before
clipping (the talk's one-liner and a plain norm), its epochs and validation loss."""
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import reportgen
from reportgen.api.lightning import RecorderCallback
from reportgen.draw import figures
from reportgen.draw.style import Style
from reportgen.store.rundir import Run


class Tiny(pl.LightningModule):
    def __init__(self, lr: float = 0.05):
        super().__init__()
        self.save_hyperparameters()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        self.losses, self.medians, self.norms = [], [], []

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.losses.append(loss.item())
        return loss

    def on_before_optimizer_step(self, optimizer):   # the gradients as the optimizer gets them, before clipping
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        if not grads:   # a skipped batch: Lightning still calls the hook
            return
        self.medians.append([g.view(-1)[g.view(-1) != 0].abs().log10().median().item() for g in grads])
        self.norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader(seed: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(torch.randn(64, 8, generator=gen), torch.randint(0, 3, (64,), generator=gen)),
                      batch_size=16)


def trainer(tmp_path, run: str, record: dict = {}, **options) -> pl.Trainer:  # noqa: B006 - read only
    """A quiet CPU trainer recording into runs/<run> every step; `options` are the Trainer's."""
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                      callbacks=[RecorderCallback(tmp_path / "runs" / run, every=1, **record)],
                      **{"max_epochs": 1, **options})


class Validated(Tiny):
    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self.net(x), y))


def test_a_lightning_fit_is_recorded_as_the_module_saw_it(tmp_path):
    module = Validated()
    trainer(tmp_path, "lit", max_epochs=2, gradient_clip_val=0.01, accumulate_grad_batches=2,
            record={"snapshots": 1}).fit(module, loader(0), loader(1))
    r = reportgen.load_run(tmp_path / "runs" / "lit")
    assert r.status["state"] == "complete" and r.config == {"lr": 0.05}
    # 4 batches an epoch, 2 a step: each step's loss is the mean of its micro-batches' losses
    assert r.metrics["step"].tolist() == [1, 2, 3, 4] and r.grad_step.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(r.metrics["loss"], np.reshape(module.losses, (4, 2)).mean(1), rtol=1e-6)
    np.testing.assert_array_equal(r.grad[:, :, r.stats.index("median")], np.float32(module.medians))
    np.testing.assert_allclose(r.metrics["grad_norm"], module.norms, rtol=1e-5)
    assert (r.metrics["grad_norm"] > 0.01).all()   # unclipped: the trainer clipped every step to 0.01
    assert r.grad_epoch.tolist() == [1, 1, 2, 2] and np.isfinite(r.metrics["epoch_val_loss"]).all()
    assert r.params == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
    assert r.trajectory.steps.tolist() == [0, 1, 2, 3, 4]
    written = figures.render(Run(r.path), "gradient_diagram", tmp_path / "gd", Style(), ("gif",), jobs=1)
    assert written["gif"].stat().st_size > 0


def test_a_failing_fit_marks_the_run_failed(tmp_path):
    class Broken(Tiny):
        def training_step(self, batch, batch_idx):
            if self.global_step == 1:
                raise RuntimeError("boom at step 1")
            return super().training_step(batch, batch_idx)

    with pytest.raises(RuntimeError, match="boom"):
        trainer(tmp_path, "broken").fit(Broken(), loader(0))
    r = reportgen.load_run(tmp_path / "runs" / "broken")
    assert r.status["state"] == "failed" and "boom at step 1" in r.status["message"]
    assert r.metrics["step"].tolist() == [1]


def test_batches_training_step_skips_are_left_out(tmp_path):
    class Skipping(Tiny):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            return None if batch_idx == 1 else loss   # Lightning's way to skip a batch: no backward, no step

    module = Skipping()
    trainer(tmp_path, "skip").fit(module, loader(0))
    r = reportgen.load_run(tmp_path / "runs" / "skip")
    assert r.status["state"] == "complete" and r.metrics["step"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(r.metrics["loss"], [module.losses[i] for i in (0, 2, 3)], rtol=1e-6)


class Manual(Tiny):
    """Manual optimization: the module steps itself, and says its loss only if it returns it."""

    def __init__(self, returns: bool):
        super().__init__()
        self.automatic_optimization, self.returns = False, returns

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        loss = super().training_step(batch, batch_idx)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        return loss if self.returns else None


@pytest.mark.parametrize("returns", [True, False])
def test_manual_optimization_records_the_returned_loss_or_says_it_needs_one(tmp_path, returns):
    module = Manual(returns)
    if not returns:
        with pytest.raises(ValueError, match="stepped the optimizer but returned no loss"):
            trainer(tmp_path, "manual").fit(module, loader(0))
        return
    trainer(tmp_path, "manual").fit(module, loader(0))
    r = reportgen.load_run(tmp_path / "runs" / "manual")
    np.testing.assert_allclose(r.metrics["loss"], module.losses, rtol=1e-6)
    np.testing.assert_array_equal(r.grad[:, :, r.stats.index("median")], np.float32(module.medians))


class WithForward(Validated):
    def forward(self, x):   # what the sharpness differentiates: loss_fn(module(x), y)
        return self.net(x)


def test_the_instruments_come_by_keyword(tmp_path):
    x, y = loader(0).dataset.tensors
    trainer(tmp_path, "inst", max_epochs=2, record={"updates": True, "activations": True,
                                                    "sharpness": reportgen.Sharpness(iterations=4, probes=0),
                                                    "sharpness_batch": (x, y)}).fit(WithForward(), loader(0), loader(1))
    r = reportgen.load_run(tmp_path / "runs" / "inst")
    assert r.instruments["update"].shape == (8, 4) and r.instruments["act"].shape == (8, 1, 3)
    assert r.instruments["sharp_step"].tolist() == [0, 4, 8] and np.all(r.instruments["sharp"] > 0)
    assert np.isfinite(r.instruments["update"]).all() and r.instruments["activations"] == ["net.1"]
