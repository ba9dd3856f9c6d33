"""DSRSD-Net on random inputs: shapes, gating over available modalities, knockout and missingness."""

from __future__ import annotations

import pytest
import torch

from dsrsd.config import ModelConfig
from dsrsd.model import DSRSDNet

MODALITIES = ["profile", "assessments", "engagement"]
KINDS = {"profile": "static", "assessments": "sequence", "engagement": "sequence"}
SIZES = {"profile": 5, "assessments": 4, "engagement": 3}
BATCH, STEPS, HIDDEN, ALIGN = 6, 5, 8, 4


def make_model(fusion: str = "gated") -> DSRSDNet:
    torch.manual_seed(0)
    model = DSRSDNet(MODALITIES, SIZES, KINDS, ModelConfig(hidden_size=HIDDEN, align_size=ALIGN, fusion=fusion))
    return model.eval()


def make_batch(seed: int = 0):
    """Return (inputs, masks, present) for BATCH learners whose sequences have 1 to STEPS real steps."""
    generator = torch.Generator().manual_seed(seed)
    inputs = {
        "profile": torch.randn(BATCH, SIZES["profile"], generator=generator),
        "assessments": torch.randn(BATCH, STEPS, SIZES["assessments"], generator=generator),
        "engagement": torch.randn(BATCH, STEPS, SIZES["engagement"], generator=generator),
    }
    lengths = torch.tensor([1, 2, 3, 4, 5, 3])
    mask = torch.arange(STEPS)[None, :] < lengths[:, None]
    masks = {"assessments": mask, "engagement": mask.clone()}
    present = torch.ones(BATCH, len(MODALITIES), dtype=torch.bool)
    return inputs, masks, present


def test_output_shapes():
    output = make_model()(*make_batch())
    assert output.logits.shape == (BATCH, 4)
    assert output.gates.shape == (BATCH, len(MODALITIES))
    assert output.available.shape == (BATCH, len(MODALITIES))
    for modality in MODALITIES:
        assert output.shared[modality].shape == (BATCH, HIDDEN)
        assert output.private[modality].shape == (BATCH, HIDDEN)
        assert output.aligned[modality].shape == (BATCH, ALIGN)


def test_streams_add_to_encoding():
    model = make_model()
    inputs, masks, present = make_batch()
    output = model(inputs, masks, present)
    for modality in MODALITIES:
        encoding = model.encoders[modality](inputs[modality], masks.get(modality))
        torch.testing.assert_close(output.shared[modality] + output.private[modality], encoding)


def test_low_rank_shared_code():
    torch.manual_seed(0)
    model = DSRSDNet(MODALITIES, SIZES, KINDS, ModelConfig(hidden_size=HIDDEN, align_size=ALIGN, shared_rank=2)).eval()
    inputs, masks, present = make_batch()
    output = model(inputs, masks, present)
    for modality in MODALITIES:
        encoding = model.encoders[modality](inputs[modality], masks.get(modality))
        torch.testing.assert_close(output.shared[modality] + output.private[modality], encoding)
        # The bias shifts every row alike, so the centred shared codes span at most 2 dimensions.
        centred = output.shared[modality] - output.shared[modality].mean(dim=0)
        assert int(torch.linalg.matrix_rank(centred, atol=1e-5)) == 2


def test_projection_split_idempotent():
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=HIDDEN, align_size=ALIGN, shared_rank=2, shared_split="projection")
    model = DSRSDNet(MODALITIES, SIZES, KINDS, config).eval()
    inputs, masks, present = make_batch()
    output = model(inputs, masks, present)
    for modality in MODALITIES:
        shared, private = output.shared[modality], output.private[modality]
        encoding = model.encoders[modality](inputs[modality], masks.get(modality))
        torch.testing.assert_close(shared + private, encoding)
        # An orthogonal projection maps its output to itself and leaves the residual orthogonal to it.
        projection = model.shared_projections[modality]
        torch.testing.assert_close(projection(shared), shared)
        torch.testing.assert_close(projection(private), torch.zeros_like(private), atol=1e-5, rtol=0)
        torch.testing.assert_close((shared * private).sum(dim=-1), torch.zeros(BATCH), atol=1e-5, rtol=0)
        assert int(torch.linalg.matrix_rank(shared, atol=1e-5)) == 2


def test_gates_sum_over_available():
    inputs, masks, present = make_batch()
    present[0, 1] = False
    present[1, 2] = False
    knockout = torch.zeros_like(present)
    knockout[2, 0] = True
    knockout[3, 1:] = True
    present[4, :] = False
    output = make_model()(inputs, masks, present, knockout)

    expected_available = present & ~knockout
    assert torch.equal(output.available, expected_available)
    assert (output.gates[~expected_available] == 0).all()
    with_any = expected_available.any(dim=1)
    torch.testing.assert_close(output.gates[with_any].sum(dim=1), torch.ones(int(with_any.sum())))
    # Row 4 has nothing available, so all its gates are 0, and its logits must still be finite.
    assert (output.gates[4] == 0).all()
    assert torch.isfinite(output.logits).all()


def test_mean_fusion_equal_gates():
    inputs, masks, present = make_batch()
    present[0, 2] = False
    gates = make_model("mean")(inputs, masks, present).gates
    torch.testing.assert_close(gates[0], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(gates[1:], torch.full((BATCH - 1, 3), 1.0 / 3.0))


@pytest.mark.parametrize("hidden_by", ["knockout", "missing"])
@pytest.mark.parametrize("modality", MODALITIES)
def test_hidden_input_ignored(modality, hidden_by):
    model = make_model()
    inputs, masks, present = make_batch()
    index = MODALITIES.index(modality)
    knockout = torch.zeros_like(present)
    if hidden_by == "knockout":
        knockout[:, index] = True
    else:
        present[:, index] = False

    changed = dict(inputs)
    changed[modality] = 10.0 * torch.randn_like(inputs[modality])
    before = model(inputs, masks, present, knockout).logits
    after = model(changed, masks, present, knockout).logits
    assert not torch.equal(changed[modality], inputs[modality])
    torch.testing.assert_close(after, before, rtol=0.0, atol=0.0)


def test_visible_input_matters():
    model = make_model()
    inputs, masks, present = make_batch()
    changed = dict(inputs)
    changed["engagement"] = 10.0 * torch.randn_like(inputs["engagement"])
    before = model(inputs, masks, present).logits
    after = model(changed, masks, present).logits
    assert (after - before).abs().max() > 1e-3


def test_missing_differs_from_knockout():
    model = make_model()
    inputs, masks, present = make_batch()
    knockout = torch.zeros_like(present)
    knockout[:, 2] = True
    knocked_out = model(inputs, masks, present, knockout)

    missing = present.clone()
    missing[:, 2] = False
    truly_missing = model(inputs, masks, missing)
    assert torch.equal(knocked_out.gates, truly_missing.gates)
    assert (knocked_out.logits - truly_missing.logits).abs().max() > 1e-4


def test_padding_steps_ignored():
    model = make_model()
    inputs, masks, present = make_batch()
    changed = {m: value.clone() for m, value in inputs.items()}
    for modality in ["assessments", "engagement"]:
        padding = ~masks[modality]
        changed[modality][padding] = 50.0
    assert (~masks["assessments"]).any()
    before = model(inputs, masks, present)
    after = model(changed, masks, present)
    torch.testing.assert_close(after.logits, before.logits)
    for modality in MODALITIES:
        torch.testing.assert_close(after.shared[modality], before.shared[modality])


def test_empty_sequence_encodes_same():
    model = make_model()
    inputs, masks, present = make_batch()
    masks["assessments"][:2] = False
    encoding = model.encoders["assessments"](inputs["assessments"], masks["assessments"])
    torch.testing.assert_close(encoding[0], encoding[1])


def test_forward_stores_nothing():
    model = make_model()
    before = {name: dict(vars(module)) for name, module in model.named_modules()}
    state_before = {name: tensor.clone() for name, tensor in model.state_dict().items()}

    model.train()
    model(*make_batch())
    model.eval()
    with torch.no_grad():
        model(*make_batch(seed=1))

    after = {name: dict(vars(module)) for name, module in model.named_modules()}
    assert after.keys() == before.keys()
    for name, attributes in after.items():
        assert attributes.keys() == before[name].keys(), name
        for key, value in attributes.items():
            if key not in ("training", "_parameters", "_buffers", "_modules"):
                assert value is before[name][key], f"{name}.{key}"
    assert model.state_dict().keys() == state_before.keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state_before[name]), name
