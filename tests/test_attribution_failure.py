"""Attributions that fail midway leave the shared model as they found it: no hooks, no gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.modules import module as torch_module

from dsrsd.attribution import feature_integrated_gradients, modality_shapley
from dsrsd.config import ModelConfig
from dsrsd.data import OuladEncoder
from dsrsd.model import DSRSDNet
from dsrsd.perturb import Perturbation

HOOK_DICTS = ["_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
              "_state_dict_hooks", "_load_state_dict_pre_hooks"]
GLOBAL_HOOK_DICTS = ["_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                     "_global_backward_pre_hooks"]


class InjectedFailure(RuntimeError):
    pass


class RaiseInBackward(torch.autograd.Function):
    """Identity in the forward pass; raises while gradients flow back through it."""

    @staticmethod
    def forward(ctx, tensor):
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad):
        raise InjectedFailure("failure injected in the backward pass")


@pytest.fixture(scope="module")
def encoded(toy_raw):
    return OuladEncoder.fit(toy_raw).transform(toy_raw)


@pytest.fixture
def model(encoded):
    torch.manual_seed(0)
    sizes = {m: encoded.inputs[m].shape[-1] for m in encoded.modalities}
    kinds = {"profile": "static", "assessments": "sequence", "engagement": "sequence"}
    network = DSRSDNet(encoded.modalities, sizes, kinds, ModelConfig(hidden_size=8, align_size=4)).eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)      # as the app's cached model
    return network


def fail_on_call(monkeypatch, module: torch.nn.Module, call: int, where: str) -> dict:
    """Make `module`'s forward fail on its `call`-th run, in the forward or in the backward pass."""
    original = module.forward
    calls = {"count": 0}

    def forward(*args, **kwargs):
        calls["count"] += 1
        output = original(*args, **kwargs)
        if calls["count"] == call:
            if where == "forward":
                raise InjectedFailure("failure injected in the forward pass")
            return RaiseInBackward.apply(output)
        return output

    monkeypatch.setattr(module, "forward", forward)
    return calls


def assert_model_untouched(model: DSRSDNet) -> None:
    for name, submodule in model.named_modules():
        for hooks in HOOK_DICTS:
            assert not getattr(submodule, hooks), f"{name or 'model'}.{hooks} is not empty"
    for hooks in GLOBAL_HOOK_DICTS:
        assert not getattr(torch_module, hooks), f"torch's {hooks} is not empty"
    assert not model.training
    for name, parameter in model.named_parameters():
        assert not parameter.requires_grad, name
        assert parameter.grad is None, name
    assert torch.is_grad_enabled()


# Call 1 is the batch along the integration path, whose gradients are taken; call 2 computes the
# convergence delta without gradients.
@pytest.mark.parametrize(("call", "where"), [(1, "forward"), (1, "backward"), (2, "forward")])
def test_integrated_gradients_failure(model, encoded, monkeypatch, call, where):
    names = [f"f{index}" for index in range(encoded.inputs["engagement"].shape[-1])]
    expected = feature_integrated_gradients(model, encoded, 3, "engagement", names, Perturbation(noise={"profile": 0.5}))
    calls = fail_on_call(monkeypatch, model.encoders["engagement"], call, where)

    with pytest.raises(InjectedFailure):
        feature_integrated_gradients(model, encoded, 3, "engagement", names, Perturbation(noise={"profile": 0.5}))
    assert calls["count"] >= call
    monkeypatch.undo()
    assert_model_untouched(model)

    again = feature_integrated_gradients(model, encoded, 3, "engagement", names, Perturbation(noise={"profile": 0.5}))
    np.testing.assert_array_equal(again.per_feature, expected.per_feature)


@pytest.mark.parametrize("call", [1, 3])
def test_shapley_failure(model, encoded, monkeypatch, call):
    rows = np.arange(6)
    expected = modality_shapley(model, encoded, rows)
    fail_on_call(monkeypatch, model.encoders["profile"], call, "forward")

    with pytest.raises(InjectedFailure):
        modality_shapley(model, encoded, rows)
    monkeypatch.undo()
    assert_model_untouched(model)
    np.testing.assert_array_equal(modality_shapley(model, encoded, rows).values, expected.values)
