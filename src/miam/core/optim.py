"""AdamW with decoupled weight decay, and the learning-rate schedule of training.

Written out rather than taken from torch.optim: the first use of any torch.optim optimizer
imports torch._dynamo, about 1.5 s of CPU per process, which is most of a small training job
and adds up over the hundreds of jobs of a full grid. The update is torch.optim.AdamW's
(amsgrad off), and the state is plain tensors, so checkpoints load with weights_only=True.
"""

from __future__ import annotations

import math

import torch


class AdamW:
    def __init__(
        self, parameters, lr: float, weight_decay: float = 0.01, betas=(0.9, 0.999), eps=1e-8
    ):
        self.parameters = [p for p in parameters if p.requires_grad]
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.parameters]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.parameters]
        # Indices of the parameters that are, with their moments, views of one flat buffer each
        # (`pack`); the buffers, in the order (parameters, exp_avg, exp_avg_sq).
        self.packed: list[int] | None = None
        self.flat: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def zero_grad(self) -> None:
        for p in self.parameters:
            p.grad = None

    @torch.no_grad()
    def clip_grad_norm(self, max_norm: float) -> None:
        """Scale the gradients so that their joint 2-norm is at most `max_norm`: the arithmetic of
        torch.nn.utils.clip_grad_norm_ (foreach), bit for bit, without its per-call grouping of
        the parameters by device and type (a tenth of a small model's step on a CPU)."""
        grads = [p.grad for p in self.parameters if p.grad is not None]
        if not grads:
            return
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
        torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))

    @torch.no_grad()
    def step(self, lr: float | None = None) -> None:
        """One update with learning rate `lr` (default: the initial one).

        The parameters that have a gradient are packed into one flat buffer (`pack`) at the
        first step, and again when a step has gradients for more of them, so a step is one
        concatenation of the gradients and eight kernels over the buffer whatever the number of
        parameter tensors, not eight per tensor: on a CPU that per-tensor dispatch was most of
        the optimiser's time in a small model. Each element sees the same arithmetic either
        way: results are bit-identical to a loop over the parameters. A step with gradients
        for fewer of them updates those tensor by tensor.
        """
        lr = self.lr if lr is None else lr
        self.steps += 1
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1**self.steps
        bias_correction2_sqrt = math.sqrt(1 - beta2**self.steps)
        updated = [i for i, p in enumerate(self.parameters) if p.grad is not None]
        if not updated:
            return
        if (
            self.packed is None
            or set(updated) > set(self.packed)
            or (updated == self.packed and not self.still_packed())
        ):
            self.pack(updated)
        if updated == self.packed:
            grads = [torch.cat([self.parameters[i].grad.reshape(-1) for i in updated])]
            params, exp_avg, exp_avg_sq = ([buffer] for buffer in self.flat)
        else:
            grads = [self.parameters[i].grad for i in updated]
            params = [self.parameters[i] for i in updated]
            exp_avg = [self.exp_avg[i] for i in updated]
            exp_avg_sq = [self.exp_avg_sq[i] for i in updated]
        torch._foreach_mul_(params, 1 - lr * self.weight_decay)
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
        denominator = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denominator, bias_correction2_sqrt)
        torch._foreach_add_(denominator, self.eps)
        torch._foreach_addcdiv_(params, exp_avg, denominator, value=-lr / bias_correction1)

    def pack(self, indices: list[int]) -> None:
        """Make the parameters at `indices`, and their moments, views of one flat buffer each
        (values kept). Parameters of several devices or dtypes are left apart. Updated through
        the buffer, the parameters' version counters no longer move: autograd would not notice
        an update between a forward and its backward (a training step never does that)."""
        groups = [
            [tensors[i] for i in indices]
            for tensors in (self.parameters, self.exp_avg, self.exp_avg_sq)
        ]
        if len({(p.device, p.dtype) for p in groups[0]}) != 1:
            return
        flat = []
        for tensors in groups:
            buffer = torch.cat([t.detach().reshape(-1) for t in tensors])
            for t, view in zip(tensors, buffer.split([t.numel() for t in tensors]), strict=True):
                t.data = view.view_as(t)
            flat.append(buffer)
        self.packed, self.flat = indices, tuple(flat)

    def still_packed(self) -> bool:
        """Whether the packed parameters still view the flat buffer (`p.data = ...` gives a
        parameter other data)."""
        buffer = self.flat[0].untyped_storage().data_ptr()
        return all(self.parameters[i].untyped_storage().data_ptr() == buffer for i in self.packed)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]
        for mine, saved in zip(
            self.exp_avg + self.exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"], strict=True
        ):
            mine.copy_(saved)


def lr_factor(step: int, total_steps: int, warmup_fraction: float) -> float:
    """Linear warm-up over `warmup_fraction` of the steps, then cosine decay to 0."""
    warmup = max(1, int(total_steps * warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
