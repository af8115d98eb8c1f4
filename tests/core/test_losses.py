"""The custom autograd Functions against gradcheck and torch's own losses."""

import pytest
import torch
import torch.nn.functional as F

from lab4.maths.losses import ClipStats, custom_cross_entropy, scaled_mse


def _data(n=7, k=4, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, k, generator=g, dtype=torch.float64) * scale).requires_grad_(True)
    t = torch.randint(0, k, (n,), generator=g)
    return z, t


@pytest.mark.parametrize("variant", ["stable", "handout"])
def test_cross_entropy_gradcheck(variant):
    z, t = _data()
    assert torch.autograd.gradcheck(lambda a: custom_cross_entropy(a, t, None, None, variant), (z,))


def test_cross_entropy_matches_F_cross_entropy():
    z, t = _data(n=32, k=10, seed=3, scale=3.0)
    ours = custom_cross_entropy(z, t)
    (g_ours,) = torch.autograd.grad(ours, z)
    ref = F.cross_entropy(z, t)
    (g_ref,) = torch.autograd.grad(ref, z)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-12)
    assert torch.allclose(g_ours, g_ref, rtol=1e-12, atol=1e-15)


def test_grad_output_scales_the_gradient():
    z, t = _data()
    (g1,) = torch.autograd.grad(custom_cross_entropy(z, t), z)
    (g3,) = torch.autograd.grad(3.0 * custom_cross_entropy(z, t), z)
    assert torch.allclose(g3, 3 * g1)


def test_stable_variant_survives_a_logit_gap_of_200_in_float32():
    z = torch.tensor([[200.0, 0.0]], dtype=torch.float32)
    t = torch.tensor([1])
    assert custom_cross_entropy(z, t).item() == pytest.approx(F.cross_entropy(z, t).item())
    assert custom_cross_entropy(z, t).item() == pytest.approx(200.0)
    # the handout's variant is capped at -log(1e-9) = 20.7
    assert custom_cross_entropy(z, t, variant="handout").item() == pytest.approx(20.723, abs=1e-3)


def test_clip_one_changes_nothing_small_clip_clips():
    z, t = _data(n=16, k=5, seed=1, scale=4.0)
    (g,) = torch.autograd.grad(custom_cross_entropy(z, t), z)
    assert g.abs().max() <= 1 / 16 + 1e-15  # |(softmax - onehot)/N| <= 1/N
    stats = ClipStats()
    (g1,) = torch.autograd.grad(custom_cross_entropy(z, t, 1.0, stats), z)
    assert torch.equal(g1, g) and stats.fraction == 0.0
    stats = ClipStats()
    (gs,) = torch.autograd.grad(custom_cross_entropy(z, t, 0.01, stats), z)
    assert gs.abs().max() <= 0.01
    assert torch.equal(gs, g.clamp(-0.01, 0.01))
    assert stats.fraction == pytest.approx(float((g.abs() > 0.01).double().mean()))
    assert stats.fraction > 0


@pytest.mark.parametrize("output", ["softmax", "logits"])
@pytest.mark.parametrize("scale", [0.1, 1.0, 37.0])
def test_scaled_mse_gradcheck_and_matches_F_mse_loss(output, scale):
    z, t = _data(n=9, k=3, seed=2)
    assert torch.autograd.gradcheck(lambda a: scaled_mse(a, t, scale, output), (z,))
    y_hat = torch.softmax(z, 1) if output == "softmax" else z
    ref = scale * F.mse_loss(y_hat, F.one_hot(t, 3).double())
    ours = scaled_mse(z, t, scale, output)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-12)
    (g_ours,) = torch.autograd.grad(ours, z)
    (g_ref,) = torch.autograd.grad(ref, z)
    assert torch.allclose(g_ours, g_ref, rtol=1e-10, atol=1e-14)
