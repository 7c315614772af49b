"""NADE's blockwise running-sum pass (Larochelle & Murray 2011, Algorithm 1) against the direct
(B, D, H) computation: the same logits, log-likelihoods and gradients of every parameter."""

import os
import subprocess
import sys

import pytest
import torch

from hourglass.core.errors import ConfigError
from hourglass.models import build
from hourglass.models.autoregressive import running_sums
from hourglass.core.native import row_chunks
from hourglass.models.nade import _KernelLogits, default_block, kernel, running_sum_logits


def _model(D, H, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = build("nade", input_shape=(D,), hidden=(H,)).to(dtype)
    with torch.no_grad():  # non-zero biases, so that dc and db are not trivial
        model.c.normal_()
        model.b.normal_()
        model.W.mul_(3.0)
    return model


def _data(B, D, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((B, D), 0.4, dtype=dtype), generator=g)


def _grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("B,D,H,block", [(5, 17, 6, 4), (3, 10, 7, 3), (4, 12, 5, 12),
                                         (2, 9, 8, 1), (6, 23, 4, 64), (1, 5, 3, 2)])
def test_logits_and_gradients_equal_the_direct_computation(B, D, H, block):
    model = _model(D, H)
    x = _data(B, D)
    u = model.net_input(x)
    fast = running_sum_logits(u, model.W, model.c, model.V, model.b, block=block)
    slow = model.logits_cumsum(x)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)
    w = torch.randn(B, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    g_fast = _grads(model, (fast * w).sum())
    g_slow = _grads(model, (slow * w).sum())
    assert set(g_fast) == {"W", "c", "V", "b"}
    for name in g_fast:
        torch.testing.assert_close(g_fast[name], g_slow[name], rtol=0, atol=1e-11, msg=name)


def test_gradcheck_of_the_running_sum():
    torch.manual_seed(3)
    D, H = 7, 4
    u = _data(3, D)
    W, c, V, b = (torch.randn(*s, dtype=torch.float64, requires_grad=True)
                  for s in ((H, D), (H,), (D, H), (D,)))
    assert torch.autograd.gradcheck(lambda *p: running_sum_logits(u, *p, block=3), (W, c, V, b))


@pytest.mark.parametrize("B,D,H", [(64, 50, 20), (7, 31, 9)])
def test_float32_log_prob_and_loss_gradients_match(B, D, H):
    model = _model(D, H, dtype=torch.float32)
    x = _data(B, D, dtype=torch.float32)
    u = model.net_input(x)
    assert model.fast_path_applies(u)
    log_p = model.log_prob(x)                              # the fast path
    ref = torch.distributions.Bernoulli(logits=model.logits_cumsum(x)).log_prob(x).sum(1)
    torch.testing.assert_close(log_p, ref, rtol=1e-5, atol=1e-4)
    g_fast = _grads(model, model(x)["loss"])
    g_slow = _grads(model, -ref.mean())
    for name in g_fast:
        torch.testing.assert_close(g_fast[name], g_slow[name], rtol=1e-4, atol=1e-6, msg=name)


def test_log_prob_of_a_tiny_nade_is_the_sum_of_its_conditionals():
    # D = 2, H = 1: l_1 = V_1 s(c) + b_1, l_2 = V_2 s(c + W_1 x_1) + b_2, by hand
    model = build("nade", input_shape=(2,), hidden=(1,)).double()
    with torch.no_grad():
        model.W.copy_(torch.tensor([[2.0, -1.0]]))
        model.c.fill_(0.5)
        model.V.copy_(torch.tensor([[1.5], [-3.0]]))
        model.b.copy_(torch.tensor([0.25, 1.0]))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    s = torch.sigmoid
    c = torch.tensor(0.5, dtype=torch.float64)
    l1 = 1.5 * s(c) + 0.25
    expect = []
    for x1, x2 in x.tolist():
        l2 = -3.0 * s(c + 2.0 * x1) + 1.0
        expect.append(float(torch.distributions.Bernoulli(logits=l1).log_prob(torch.tensor(x1))
                            + torch.distributions.Bernoulli(logits=l2).log_prob(torch.tensor(x2))))
    torch.testing.assert_close(model.log_prob(x), torch.tensor(expect, dtype=torch.float64))


def test_fast_path_only_for_one_hidden_layer_and_inputs_without_gradient():
    deep = build("nade", input_shape=(6,), hidden=(5, 4))
    shallow = build("nade", input_shape=(6,), hidden=(5,))
    x = _data(2, 6, dtype=torch.float32)
    assert not deep.fast_path_applies(x) and shallow.fast_path_applies(x)
    assert not shallow.fast_path_applies(x.clone().requires_grad_())
    assert not shallow.fast_path_applies(x.double())       # float32 weights: the direct path
    xg = x.clone().requires_grad_()
    shallow.log_prob(xg).sum().backward()                 # the direct path gives dx
    assert xg.grad is not None and xg.grad.shape == x.shape


def test_sampling_is_unchanged():
    model = _model(9, 5, dtype=torch.float32)
    a = model.sample(4, generator=torch.Generator().manual_seed(0))
    # the same draws as D steps of the direct logits: draw x_i from sigma(l_i(x_<i))
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(4, 9)
    with torch.no_grad():
        for i in range(9):
            p = torch.sigmoid(model.logits_cumsum(x)[:, i])
            x[:, i] = torch.bernoulli(p, generator=gen)
    torch.testing.assert_close(a, x)


def test_no_grad_keeps_nothing_and_block_is_checked():
    model = _model(8, 3, dtype=torch.float32)
    x = _data(2, 8, dtype=torch.float32)
    with torch.no_grad():
        out = running_sum_logits(x, model.W, model.c, model.V, model.b, block=3)
    assert out.grad_fn is None
    assert [default_block(b, 500) for b in (1, 32, 64, 128, 256, 10**6)] == [16, 16, 16, 8, 8, 8]
    with pytest.raises(ConfigError, match="The block of running_sum_logits must be a positive "
                                          "int. Got 0 instead."):
        running_sum_logits(x, model.W, model.c, model.V, model.b, block=0)


# The fused C kernel (nade.c): float32, compared with the direct computation in float64


def _fused_against_direct(B, D, H, block, scale=3.0):
    model = _model(D, H)
    with torch.no_grad():
        model.W.mul_(scale / 3.0)
    x = _data(B, D)
    w = torch.randn(B, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    slow = model.logits_cumsum(x)
    g_slow = _grads(model, (slow * w).sum())
    model32 = _model(D, H, dtype=torch.float32)
    model32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    fast = running_sum_logits(x.float(), model32.W, model32.c, model32.V, model32.b, block=block,
                              fused=True)
    g_fast = _grads(model32, (fast * w.float()).sum())
    return fast, slow, g_fast, g_slow


@pytest.mark.parametrize("B,D,H,block", [(1, 5, 3, 2), (7, 17, 9, 4), (9, 40, 37, 16),
                                         (33, 23, 8, 1), (16, 30, 20, 64), (20, 12, 17, 5)])
def test_fused_kernel_equals_the_direct_computation(B, D, H, block, native_kernels):
    assert kernel() is not None, "a C compiler is on PATH, so nade.c must build"
    fast, slow, g_fast, g_slow = _fused_against_direct(B, D, H, block)
    torch.testing.assert_close(fast.double(), slow, rtol=1e-5, atol=1e-5)
    for name in g_slow:
        torch.testing.assert_close(g_fast[name].double(), g_slow[name], rtol=1e-4, atol=1e-4,
                                   msg=name)


def test_fused_kernel_saturated_sigmoids_stay_finite_and_exact(native_kernels):
    # |a| up to ~1000: exp is clamped, h is exactly 0 or 1 and h (1 - h) vanishes as in float64
    fast, slow, g_fast, g_slow = _fused_against_direct(6, 20, 7, 16, scale=300.0)
    assert torch.isfinite(fast).all() and all(torch.isfinite(g).all() for g in g_fast.values())
    torch.testing.assert_close(fast.double(), slow, rtol=1e-5, atol=1e-4)
    for name in g_slow:
        torch.testing.assert_close(g_fast[name].double(), g_slow[name], rtol=1e-4, atol=1e-3,
                                   msg=name)


def test_fused_kernel_is_deterministic_and_splits_rows_over_threads(native_kernels):
    model = _model(50, 21, dtype=torch.float32)
    x = _data(37, 50, dtype=torch.float32)
    runs = []
    threads = torch.get_num_threads()
    try:
        for n in (2, 2, 1):
            torch.set_num_threads(n)
            out = running_sum_logits(x, model.W, model.c, model.V, model.b, fused=True)
            runs.append([out.detach()] + list(_grads(model, (out * out).sum()).values()))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(runs[0], runs[1]):                      # same threads: bitwise
        assert torch.equal(a, b)
    for a, b in zip(runs[0], runs[2]):                      # other split: same sums, other order
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_row_chunks_cover_the_batch_in_whole_tiles():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert row_chunks(37, 8) == [(0, 24), (24, 37)]
        assert row_chunks(8, 8) == [(0, 8)]                   # one tile: one thread
        torch.set_num_threads(3)
        assert row_chunks(128, 8) == [(0, 48), (48, 96), (96, 128)]
    finally:
        torch.set_num_threads(threads)


def test_model_uses_the_kernel_in_float32_only(monkeypatch, native_kernels):
    calls = []
    real = _KernelLogits.apply
    monkeypatch.setattr(_KernelLogits, "apply", lambda *a: calls.append(1) or real(*a))
    model = _model(10, 4, dtype=torch.float32)
    model.log_prob(_data(3, 10, dtype=torch.float32))
    assert calls == [1]
    model.double().log_prob(_data(3, 10))                   # float64: the PyTorch pass
    assert calls == [1]
    with pytest.raises(ConfigError, match="needs float32 CPU tensors"):
        running_sum_logits(_data(3, 10), model.W, model.c, model.V, model.b, fused=True)


def test_running_sums_and_their_gradient_by_hand():
    # a_i = c + sum_{j<i} W_{:,j} x_j; d/dW_{:,j} of sum_i g_i . a_i is x_j sum_{i>j} g_i
    gen = torch.Generator().manual_seed(4)
    B, D, H = 3, 6, 5
    x = torch.randn(B, D, generator=gen, dtype=torch.float64)
    W = torch.randn(H, D, generator=gen, dtype=torch.float64, requires_grad=True)
    c = torch.randn(H, generator=gen, dtype=torch.float64, requires_grad=True)
    g = torch.randn(B, D, H, generator=gen, dtype=torch.float64)
    a = running_sums(x, W, c)
    expect = torch.stack([c + (W[:, :i] * x[:, None, :i]).sum(-1) for i in range(D)], dim=1)
    torch.testing.assert_close(a, expect.expand(B, D, H), rtol=0, atol=1e-12)
    (a * g).sum().backward()
    later = torch.stack([g[:, i + 1:].sum(1) for i in range(D)], dim=1)      # (B, D, H)
    torch.testing.assert_close(W.grad, torch.einsum("bj,bjh->hj", x, later), rtol=0, atol=1e-12)
    torch.testing.assert_close(c.grad, g.sum((0, 1)), rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda W, c: running_sums(x, W, c), (W, c))
    xg = x.clone().requires_grad_()                         # x with a gradient: autograd's path
    running_sums(xg, W, c).sum().backward()
    torch.testing.assert_close(xg.grad, (W.sum(0) * torch.arange(D - 1, -1, -1)).expand(B, D))


THREADS_PROBE = r"""
import os, threading, torch
torch.set_num_threads(2)
from hourglass.models import build
from hourglass.models import nade, rnade
assert nade.kernel() is not None and rnade.kernel() is not None
torch.ones(1000, 1000).sum()            # the main thread's OpenMP team, started once
def threads():
    return len(os.listdir("/proc/self/task")), threading.active_count()
(os_before, py_before) = threads()
for name in ("nade", "rnade"):           # D * H = 50,176: a parallel fill, were it in a worker
    model = build(name, input_shape=(784,), hidden=(64,))
    model(torch.rand(64, 784).round())["loss"].backward()
os_after, py_after = threads()
print(os_after - os_before, py_after - py_before)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc (Linux)")
def test_the_kernels_worker_threads_run_c_alone_and_start_no_openmp_threads(native_kernels):
    """A worker that ran a parallel torch op would start OpenMP threads of its own; with more
    OpenMP threads than cores, GNU OpenMP stops spin-waiting and every small parallel op of the
    process afterwards gets several times slower. The threads the kernels add are their pool's."""
    env = {k: v for k, v in os.environ.items() if k != "HOURGLASS_NATIVE"}
    out = subprocess.run([sys.executable, "-c", THREADS_PROBE], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    os_threads, python_threads = map(int, out)
    assert python_threads == 2                     # the pool: one worker per row chunk
    assert os_threads == python_threads            # and nothing else
