"""core.optim.AdamW: the multi-tensor update gives exactly the one-parameter-at-a-time results,
and its gradient clipping exactly torch's."""

import math
import subprocess
import sys

import pytest
import torch

from miam.core.optim import AdamW


class OneByOne(AdamW):
    """The update as first written: a loop over parameters, five kernels each."""

    @torch.no_grad()
    def step(self, lr=None):
        lr = self.lr if lr is None else lr
        self.steps += 1
        beta1, beta2 = self.betas
        correction1, correction2_sqrt = 1 - beta1**self.steps, math.sqrt(1 - beta2**self.steps)
        states = zip(self.parameters, self.exp_avg, self.exp_avg_sq, strict=True)
        for p, exp_avg, exp_avg_sq in states:
            if p.grad is None:
                continue
            p.mul_(1 - lr * self.weight_decay)
            exp_avg.lerp_(p.grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denominator = (exp_avg_sq.sqrt() / correction2_sqrt).add_(self.eps)
            p.addcdiv_(exp_avg, denominator, value=-lr / correction1)


def toy_model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(7, 16), torch.nn.GELU(), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3)
    )


def train_side_by_side(steps: int, lr=lambda step: 0.01, before_step=None, after_backward=None):
    """Two copies of one toy model trained by AdamW and by OneByOne on the same batch;
    `before_step(step, model)` and `after_backward(step, model)` change a model's step."""
    x = torch.randn(64, 7, generator=torch.Generator().manual_seed(1))
    y = torch.randint(3, (64,), generator=torch.Generator().manual_seed(2))
    models = [toy_model(0), toy_model(0)]
    optimizers = [
        optimizer(model.parameters(), lr=0.01, weight_decay=0.05)
        for optimizer, model in zip([AdamW, OneByOne], models, strict=True)
    ]
    for step in range(steps):
        for model, optimizer in zip(models, optimizers, strict=True):
            if before_step:
                before_step(step, model)
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            if after_backward:
                after_backward(step, model)
            optimizer.step(lr=lr(step))
    for ours, loop in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(ours, loop)
    return models, optimizers


def test_multi_tensor_update_is_bit_identical_to_the_loop():
    def drop_bias_gradient(step, model):
        # The last layer's bias gets no gradient on odd steps: parameters without one are skipped.
        if step % 2:
            model[-1].bias.grad = None

    _, optimizers = train_side_by_side(
        25, lr=lambda step: 0.01 * (1 - step / 25), after_backward=drop_bias_gradient
    )
    for ours, loop in zip(optimizers[0].exp_avg_sq, optimizers[1].exp_avg_sq, strict=True):
        assert torch.equal(ours, loop)


def test_parameters_that_get_a_gradient_later_are_packed_too():
    """A parameter without a gradient at the first steps (a modality masked in every sample of
    the first batch) joins the packed buffer when it gets one: the update is the loop's."""

    def no_bias_gradient_at_first(step, model):
        if step < 3:
            model[-1].bias.grad = None

    models, optimizers = train_side_by_side(8, after_backward=no_bias_gradient_at_first)
    assert optimizers[0].packed == list(range(len(list(models[0].parameters()))))


def test_packed_update_follows_parameters_given_new_data():
    """Parameters given new data after the first step (`p.data = ...`) are packed again: the
    update still reaches them, bit for bit."""
    given = []

    def new_data(step, model):
        if step == 5:
            for p in model.parameters():
                p.data = p.data.clone()
            given.append(model[0].weight.detach().clone())

    models, _ = train_side_by_side(10, before_step=new_data)
    assert not torch.equal(models[0][0].weight, given[0])


def test_a_step_does_not_import_torch_dynamo():
    code = (
        "import sys, torch\n"
        "from miam.core.optim import AdamW\n"
        "w = torch.nn.Parameter(torch.ones(3))\n"
        "optimizer = AdamW([w], lr=0.1)\n"
        "(w ** 2).sum().backward()\n"
        "optimizer.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_clipping_is_bit_identical_to_torch():
    x = torch.randn(64, 7, generator=torch.Generator().manual_seed(1))
    y = torch.randint(3, (64,), generator=torch.Generator().manual_seed(2))
    for max_norm in (0.05, 1e6):  # clipped, and left as it is
        models = [toy_model(0), toy_model(0)]
        for model in models:
            torch.nn.functional.cross_entropy(model(x), y).backward()
        models[0][-1].bias.grad = None  # a parameter without a gradient is left out
        models[1][-1].bias.grad = None
        AdamW(models[0].parameters(), lr=0.01).clip_grad_norm(max_norm)
        torch.nn.utils.clip_grad_norm_(models[1].parameters(), max_norm)
        for ours, theirs in zip(models[0].parameters(), models[1].parameters(), strict=True):
            assert (ours.grad is None) == (theirs.grad is None)
            assert ours.grad is None or torch.equal(ours.grad, theirs.grad)
        grads = [p.grad for p in models[0].parameters() if p.grad is not None]
        joint = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
        assert joint == pytest.approx(max_norm, rel=1e-4) if max_norm < 1 else joint < max_norm
