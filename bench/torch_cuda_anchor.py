#!/usr/bin/env python3
"""PyTorch on the GPU, the shapes of bench/cuda_bench.cpp: the reference rates for the CUDA
add-on on the same machine. Each figure is the median of 50 timed calls (CUDA events) after
5 warm-ups, data already on the device.

    python3 bench/torch_cuda_anchor.py            # needs torch with CUDA
"""
import statistics

import torch


def median_ms(fn, reps=50, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def report(name, ms, **rates):
    extra = "  ".join(f"{k}={v(ms):.4g}" for k, v in rates.items())
    print(f"{name:<44} {ms * 1e3:10.1f} us  {extra}")


def main():
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 arithmetic, as the add-on
    g = torch.Generator(device=dev).manual_seed(1)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")

    d, K = 32, 256
    c = torch.randn(K, d, device=dev, generator=g)
    cn = (c * c).sum(1)
    for n, B in ((100_000, 1), (100_000, 10), (100_000, 64), (1_000_000, 1)):
        x = torch.randn(n, d, device=dev, generator=g)

        def nearest():
            dist = (x * x).sum(1, keepdim=True) - 2.0 * (x @ c.T) + cn
            return dist.argmin(1) if B == 1 else dist.topk(B, dim=1, largest=False)

        report(f"nearest l2 n={n} B={B} (expand + matmul)", median_ms(nearest),
               items_per_s=lambda ms, n=n: n / (ms * 1e-3),
               GFLOP_s=lambda ms, n=n: 2.0 * n * K * d / (ms * 1e-3) * 1e-9)

    items = 12101
    for n in (256, 4096):
        x = torch.randn(n, items, device=dev, generator=g)
        report(f"log_softmax {n} x {items}", median_ms(lambda: torch.log_softmax(x, dim=1)),
               GB_s=lambda ms, n=n: 2.0 * n * items * 4 / (ms * 1e-3) * 1e-9)
    x = torch.randn(4096, items, device=dev, generator=g)
    for k in (10, 64):
        report(f"topk 4096 x {items} k={k}", median_ms(lambda k=k: torch.topk(x, k, dim=1)),
               GB_s=lambda ms: 4096 * items * 4 / (ms * 1e-3) * 1e-9)

    for n in (1 << 22, 1 << 26):
        p = torch.nn.Parameter(torch.randn(n, device=dev, generator=g))
        p.grad = torch.randn(n, device=dev, generator=g)
        for fused in (False, True):
            opt = torch.optim.AdamW([p], lr=1e-3, fused=fused, foreach=False if not fused else None)
            report(f"AdamW n={n} {'fused' if fused else 'single-tensor'}", median_ms(opt.step),
                   GB_s=lambda ms, n=n: 7.0 * n * 4 / (ms * 1e-3) * 1e-9)


if __name__ == "__main__":
    main()
