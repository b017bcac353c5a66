import functools
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skattr import xCEBRAAttributor
from skattr.callbacks import Callback, Checkpoint, EarlyStopping, ProgressBar, TrainingContext

from .conftest import FAST


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, context):
        self.calls.append(("begin", context.step))

    def on_step_end(self, context):
        self.calls.append(("step", context.step))

    def on_check(self, context):
        # The losses of every step up to this check are on the host.
        assert np.all(context.history[: context.step, -1] != 0)
        self.calls.append(("check", context.step))

    def on_train_end(self, context):
        self.calls.append(("end", context.step))


def test_hooks_are_called_in_order(synthetic):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(**{**FAST, "max_iter": 120}, callbacks=[Recorder()]).fit(X, y)
    calls = model.callbacks_[0].calls
    assert calls[0] == ("begin", 0) and calls[-1] == ("end", 120)
    assert [s for kind, s in calls if kind == "step"] == list(range(1, 121))
    assert [s for kind, s in calls if kind == "check"] == [50, 100, 120]


def test_callbacks_are_copied_so_the_given_ones_stay_unchanged(synthetic):
    X, y, _, _ = synthetic
    given = Recorder()
    model = xCEBRAAttributor(**FAST, callbacks=[given]).fit(X, y)
    assert given.calls == [] and model.callbacks_[0] is not given
    refit = clone(model).fit(X, y)
    assert refit.callbacks_[0].calls == model.callbacks_[0].calls


def test_verbose_shows_each_loss_apart(synthetic, capsys):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(**FAST, verbose=True).fit(X, y)
    assert isinstance(model.callbacks_[0], ProgressBar)
    err = capsys.readouterr().err
    assert "behavior=" in err and "time=" in err and "reg=" in err


def test_callbacks_must_be_callback_instances(synthetic):
    X, y, _, _ = synthetic
    with pytest.raises(TypeError, match="callbacks must be a list of skattr.callbacks.Callback"):
        xCEBRAAttributor(**FAST, callbacks=[print]).fit(X, y)


def test_validation_holds_out_the_tail_contiguously(synthetic):
    # Training with a held-out tail is training on the head alone, step for step.
    X, y, _, _ = synthetic
    params = {**FAST, "time_offset": 3}
    held_out = xCEBRAAttributor(**params, validation_fraction=0.25).fit(X, y)
    head = xCEBRAAttributor(**params).fit(X[:450], y[:450])
    for name, curve in head.loss_curve_.items():
        np.testing.assert_array_equal(held_out.loss_curve_[name], curve)
    steps, losses = held_out.validation_loss_curve_.T
    np.testing.assert_array_equal(steps, [30])
    assert np.isfinite(losses).all()


def test_validation_fraction_too_small_is_refused(synthetic):
    X, y, _, _ = synthetic
    with pytest.raises(ValueError, match=r"validation_fraction=0.001 of 600 samples holds out 1"):
        xCEBRAAttributor(**FAST, validation_fraction=0.001).fit(X, y)


def _context(module, regularizer_full=0):
    return TrainingContext(
        module=module, optimizer=None, objective_names=["time"],
        loss_names=["time", "regularizer", "total"], max_iter=1000, first_step=0,
        regularizer_full=regularizer_full, history=np.zeros((1000, 3)), validate=lambda: 0.0,
    )


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    module = torch.nn.Linear(2, 1)
    context = _context(module, regularizer_full=100)
    stop = EarlyStopping(patience=100)
    stop.on_train_begin(context)
    best = None
    for step, loss in [(50, 0.1), (100, 5.0), (150, 4.0), (200, 4.5), (250, 4.1)]:
        context.validation_history.append((step, loss))
        with torch.no_grad():
            module.weight.fill_(step)
        if step == 150:
            best = module.weight.clone()
        stop.on_check(context)
        assert context.stop == (step == 250)
    # Step 50 came before the regulariser's weight was full: not counted.
    assert (stop.best_step_, stop.best_loss_, stop.stopped_step_) == (150, 4.0, 250)
    stop.on_train_end(context)
    torch.testing.assert_close(module.weight, best)


def test_early_stopping_needs_a_validation_fraction(synthetic):
    X, y, _, _ = synthetic
    with pytest.raises(ValueError, match="EarlyStopping needs a held-out part.*validation_frac"):
        xCEBRAAttributor(**FAST, callbacks=[EarlyStopping()]).fit(X, y)


def test_early_stopping_ends_a_fit_early(synthetic):
    X, y, _, _ = synthetic
    stop = EarlyStopping(patience=50, min_delta=10.0)  # no improvement can count
    model = xCEBRAAttributor(**{**FAST, "max_iter": 1000}, regularizer_full=0,
                             regularizer_start=0, validation_fraction=0.2,
                             callbacks=[stop]).fit(X, y)
    fitted = model.callbacks_[0]
    assert (fitted.best_step_, fitted.stopped_step_, model.n_iter_) == (50, 100, 100)
    assert len(model.loss_curve_["total"]) == 100


def test_early_stopping_rejects_bad_parameters():
    with pytest.raises(ValueError, match="'patience' parameter"):
        EarlyStopping(patience=0)


def test_checkpoints_load_and_resume_with_warm_start(synthetic, tmp_path):
    X, y, _, _ = synthetic
    path = tmp_path / "step{step}.safetensors"
    model = xCEBRAAttributor(**{**FAST, "max_iter": 40},
                             callbacks=[Checkpoint(path, every=20)]).fit(X, y)
    saved = model.callbacks_[0].saved_
    assert [p.rsplit("/", 1)[-1] for p in saved] == ["step20.safetensors", "step40.safetensors"]
    first = xCEBRAAttributor.load(saved[0])
    assert first.n_iter_ == 20
    np.testing.assert_array_equal(first.loss_curve_["total"], model.loss_curve_["total"][:20])
    last = xCEBRAAttributor.load(saved[1])
    np.testing.assert_allclose(last.transform(X), model.transform(X))
    np.testing.assert_allclose(last.attribution_map_, model.attribution_map_)
    resumed = first.set_params(warm_start=True, max_iter=20).fit(X, y)
    assert resumed.n_iter_ == 40 and len(resumed.loss_curve_["total"]) == 40


@pytest.mark.parametrize("optimizer", ["SGD", torch.optim.SGD,
                                       functools.partial(torch.optim.SGD, momentum=0.5)])
def test_an_injected_optimizer_trains_the_encoder(synthetic, optimizer):
    X, y, _, _ = synthetic

    class Seen(Callback):
        def on_train_begin(self, context):
            self.optimizer = type(context.optimizer).__name__
            self.group = {k: v for k, v in context.optimizer.param_groups[0].items()
                          if k in ("lr", "momentum", "weight_decay")}

    model = xCEBRAAttributor(**FAST, optimizer=optimizer, optimizer_params={"weight_decay": 0.1},
                             callbacks=[Seen()]).fit(X, y)
    seen = model.callbacks_[0]
    assert seen.optimizer == "SGD"
    assert seen.group["lr"] == model.learning_rate and seen.group["weight_decay"] == 0.1


def test_bad_optimizers_are_named(synthetic):
    X, y, _, _ = synthetic
    with pytest.raises(ValueError, match=r"optimizer='Adamm' is not an optimiser of torch.optim;"
                                         r" expected one of \[.*'Adam'"):
        xCEBRAAttributor(**FAST, optimizer="Adamm").fit(X, y)
    with pytest.raises(TypeError, match="optimizer must return a torch.optim.Optimizer"):
        xCEBRAAttributor(**FAST, optimizer=lambda params, lr: None).fit(X, y)


def test_saving_drops_the_callbacks_and_a_callable_optimizer(synthetic, tmp_path):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(**FAST, optimizer=torch.optim.SGD, verbose=True,
                             callbacks=[Recorder()]).fit(X, y)
    with pytest.warns(UserWarning, match="optimizer=.*saved as None"):
        model.save(tmp_path / "m.safetensors")
    loaded = xCEBRAAttributor.load(tmp_path / "m.safetensors")
    assert loaded.callbacks is None and loaded.optimizer is None
    unpickled = pickle.loads(pickle.dumps(model))
    assert not hasattr(unpickled, "callbacks_")
    np.testing.assert_array_equal(unpickled.transform(X), model.transform(X))


def test_an_interrupt_in_a_callback_keeps_the_weights_and_ends_the_callbacks(synthetic):
    X, y, _, _ = synthetic

    class Interrupt(Recorder):
        def on_step_end(self, context):
            super().on_step_end(context)
            if context.step == 7:
                raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="interrupted at step 7"):
        model = xCEBRAAttributor(**FAST, callbacks=[Interrupt()]).fit(X, y)
    assert model.n_iter_ == 7 and model.callbacks_[0].calls[-1] == ("end", 7)


def test_a_refit_without_validation_or_callbacks_drops_their_records(synthetic):
    X, y, _, _ = synthetic
    model = xCEBRAAttributor(**FAST, validation_fraction=0.2, callbacks=[Recorder()]).fit(X, y)
    assert hasattr(model, "validation_loss_curve_") and hasattr(model, "callbacks_")
    model.set_params(validation_fraction=None, callbacks=None).fit(X)
    assert not hasattr(model, "validation_loss_curve_") and model.callbacks_ == []
    assert not hasattr(model, "behavior_r2_")


def test_no_training_window_of_the_conv_encoder_reaches_into_the_held_out_tail(synthetic):
    # Poisoning the held-out tail changes nothing in training.
    X, y, _, _ = synthetic
    poisoned = X.copy()
    poisoned[480:] = 1e3
    params = {**FAST, "encoder": "conv", "time_offset": 3, "max_iter": 5,
              "validation_fraction": 0.2}
    clean = xCEBRAAttributor(**params).fit(X, y)
    dirty = xCEBRAAttributor(**params).fit(poisoned, y)
    np.testing.assert_array_equal(clean.loss_curve_["total"], dirty.loss_curve_["total"])


@pytest.mark.parametrize(("optimizer", "params", "foreach"), [
    (None, None, True),  # Adam by default
    ("AdamW", None, True),
    ("SGD", {"foreach": False}, False),  # the user's choice stands
    (torch.optim.SGD, None, None),  # a callable is called as given: torch's own default
])
def test_optimizers_named_in_torch_optim_take_the_multi_tensor_update(synthetic, optimizer,
                                                                       params, foreach):
    X, y, _, _ = synthetic

    class Seen(Callback):
        def on_train_begin(self, context):
            self.foreach = context.optimizer.param_groups[0]["foreach"]

    model = xCEBRAAttributor(**FAST, optimizer=optimizer, optimizer_params=params,
                             callbacks=[Seen()]).fit(X, y)
    assert model.callbacks_[0].foreach is foreach
