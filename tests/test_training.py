import numpy as np
import pytest
import torch

from skattr import xCEBRAAttributor
from skattr._encoders import build_encoder
from skattr._sampling import ContrastiveSampler
from skattr._training import Objective, TrainingConfig, TrainingDivergedError, train


def setup(max_iter=20):
    X = np.random.default_rng(0).standard_normal((200, 5))
    encoder = build_encoder("mlp", 5, 2, 8, torch.Generator().manual_seed(0))
    sampler = ContrastiveSampler(200, 1, None, "time_delta", 0.1, np.random.default_rng(0))
    config = TrainingConfig(max_iter, 32, 1e-3, "euclidean", 1.0, 0.1, 5, 10, 1, check_every=7)
    objectives = [Objective("time", 0, 2, "time_positive")]
    return encoder, torch.tensor(X, dtype=torch.float32), sampler, objectives, config


def test_training_lowers_the_loss():
    encoder, inputs, sampler, objectives, config = setup(max_iter=300)
    result = train(encoder, inputs, sampler, objectives, config, torch.Generator())
    curve = result.loss_curve["time"]
    assert result.n_iter == 300 and curve[-50:].mean() < curve[:20].mean()
    assert not encoder.training


def test_keyboard_interrupt_keeps_the_weights_reached(monkeypatch):
    encoder, inputs, sampler, objectives, config = setup()
    calls = {"n": 0}
    original = sampler.sample

    def interrupt_at_12(size):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        return original(size)

    monkeypatch.setattr(sampler, "sample", interrupt_at_12)
    with pytest.warns(RuntimeWarning, match="interrupted at step 12 of 20"):
        result = train(encoder, inputs, sampler, objectives, config, torch.Generator())
    assert result.interrupted and result.n_iter == 12
    assert all(len(curve) == 12 for curve in result.loss_curve.values())


def test_interrupted_fit_leaves_a_usable_estimator(monkeypatch):
    def interrupt(self, size):
        raise KeyboardInterrupt

    monkeypatch.setattr(ContrastiveSampler, "sample", interrupt)
    X = np.random.default_rng(0).standard_normal((100, 4))
    with pytest.warns(RuntimeWarning, match="interrupted at step 0"):
        model = xCEBRAAttributor(1, 1, max_iter=10, device="cpu", random_state=0).fit(X)
    assert model.n_iter_ == 0 and model.transform(X).shape == (100, 2)


def test_divergence_names_the_step():
    encoder, inputs, sampler, objectives, config = setup()
    with torch.no_grad():
        encoder[0].weight.fill_(float("nan"))
    with pytest.raises(TrainingDivergedError, match="time loss is nan at step 0"):
        train(encoder, inputs, sampler, objectives, config, torch.Generator())


def test_each_objective_loss_is_taken_on_its_own_dimensions(rng):
    # xCEBRA's layout: behaviour on 0:2, time on all of 0:4 (the behaviour block included).
    from skattr._losses import infonce
    from skattr._training import _objective_losses

    reference, negative, behavior_pos, time_pos = (
        torch.tensor(rng.standard_normal((8, 4))) for _ in range(4)
    )
    objectives = [Objective("behavior", 0, 2, "behavior_positive"),
                  Objective("time", 0, 4, "time_positive")]
    others = torch.cat([negative, behavior_pos, time_pos])
    behavior, time = _objective_losses(reference, others, objectives, "euclidean", 1.0, None)
    assert float(behavior) == pytest.approx(float(infonce(
        reference[:, :2], behavior_pos[:, :2], negative[:, :2], "euclidean", 1.0)))
    assert float(time) == pytest.approx(float(infonce(
        reference, time_pos, negative, "euclidean", 1.0)))


def test_ensemble_members_share_each_positive_and_keep_their_own_losses(rng):
    # Two members of 4 latents, each in xCEBRA's layout: every positive is embedded once.
    from skattr._losses import infonce
    from skattr._sampling import Batch
    from skattr._training import _batch_indices, _objective_losses

    objectives = [Objective("behavior", 0, 2, "behavior_positive"),
                  Objective("time", 0, 4, "time_positive"),
                  Objective("behavior", 4, 6, "behavior_positive"),
                  Objective("time", 4, 8, "time_positive")]
    size = 8
    batch = Batch(*(rng.integers(0, 100, size) for _ in range(4)),
                  behavior_positives={None: rng.integers(0, 100, size)})
    indices = _batch_indices(batch, objectives, pin=False)
    np.testing.assert_array_equal(indices.numpy(), np.concatenate(
        [batch.reference, batch.negative, batch.behavior_positives[None], batch.time_positive]))
    reference, negative, behavior_pos, time_pos = (
        torch.tensor(rng.standard_normal((size, 8))) for _ in range(4))
    losses = _objective_losses(reference, torch.cat([negative, behavior_pos, time_pos]),
                               objectives, "euclidean", 1.0, None)
    positives = {"behavior_positive": behavior_pos, "time_positive": time_pos}
    for objective, loss in zip(objectives, losses, strict=True):
        block = objective.output_slice
        assert float(loss) == pytest.approx(float(infonce(
            reference[:, block], positives[objective.positive][:, block], negative[:, block],
            "euclidean", 1.0)), rel=1e-12)


def test_a_supervised_objective_is_the_squared_error_of_its_block(rng):
    from skattr._training import _objective_losses

    reference, negative, time_pos = (torch.tensor(rng.standard_normal((8, 3))) for _ in range(3))
    targets = torch.tensor(rng.standard_normal((8, 2)))
    objectives = [Objective("behavior", 0, 2, None, "mse"), Objective("time", 0, 3,
                                                                      "time_positive")]
    # Only the contrastive objective has positives among the others.
    mse, _ = _objective_losses(reference, torch.cat([negative, time_pos]), objectives,
                               "euclidean", 1.0, targets)
    expected = ((reference[:, :2] - targets) ** 2).sum(1).mean()
    assert float(mse) == pytest.approx(float(expected))


def test_prefetching_trains_exactly_as_drawing_in_the_loop(rng):
    X = rng.standard_normal((300, 5))
    labels = rng.standard_normal((300, 2))
    curves = []
    for prefetch in (False, True):
        encoder = build_encoder("mlp", 5, 3, 8, torch.Generator().manual_seed(0))
        sampler = ContrastiveSampler(300, 2, labels, "time_delta", 0.1, np.random.default_rng(1))
        config = TrainingConfig(40, 32, 1e-3, "euclidean", 1.0, 0.1, 10, 20, 1,
                                prefetch=prefetch)
        objectives = [Objective("behavior", 0, 2, "behavior_positive"),
                      Objective("time", 0, 3, "time_positive")]
        result = train(encoder, torch.tensor(X, dtype=torch.float32), sampler, objectives,
                       config, torch.Generator().manual_seed(2))
        curves.append(result.loss_curve["total"])
    np.testing.assert_array_equal(*curves)
