"""A PyTorch restatement of the official CycleGAN iteration, timed like train_step.py.

Optional benchmark dependency (never a test or runtime one): `pip install torch==2.13.0`.
python benchmarks/torch_reference_step.py --sizes=64,128 --threads=2

The networks and the iteration follow the official `models/networks.py` and
`CycleGANModel.optimize_parameters()` (ResNet-9 generator with
reflection padding and instance norm, 70x70 PatchGAN, LSGAN, lambda 10/10/0.5, Adam
2e-4 (0.5, 0.999), pool queried while filling): the same work as the official
`optimize_parameters()`, as a fair CPU baseline for our step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn


def _generator(ngf: int = 64, n_blocks: int = 9) -> nn.Module:
    def block(dim):
        class Res(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv_block = nn.Sequential(
                    nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
                    nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

            def forward(self, x):
                return x + self.conv_block(x)
        return Res()

    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(2):
        c = ngf * 2 ** i
        layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
    layers += [block(4 * ngf) for _ in range(n_blocks)]
    for i in range(2):
        c = ngf * 2 ** (2 - i)
        layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1),
                   nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def _discriminator(ndf: int = 64) -> nn.Module:
    layers = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c = ndf
    for n, stride in ((1, 2), (2, 2), (3, 1)):
        out = ndf * min(2 ** n, 8)
        layers += [nn.Conv2d(c, out, 4, stride, 1), nn.InstanceNorm2d(out), nn.LeakyReLU(0.2, True)]
        c = out
    layers += [nn.Conv2d(c, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


class Iteration:
    """`optimize_parameters()` of the official CycleGANModel (pool while filling)."""

    def __init__(self):
        self.G_A, self.G_B = _generator(), _generator()
        self.D_A, self.D_B = _discriminator(), _discriminator()
        for net in (self.G_A, self.G_B, self.D_A, self.D_B):
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.normal_(m.weight, 0.0, 0.02)
                    nn.init.zeros_(m.bias)
        self.opt_G = torch.optim.Adam(list(self.G_A.parameters()) + list(self.G_B.parameters()),
                                      lr=2e-4, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(list(self.D_A.parameters()) + list(self.D_B.parameters()),
                                      lr=2e-4, betas=(0.5, 0.999))
        self.mse, self.l1 = nn.MSELoss(), nn.L1Loss()

    def gan(self, pred, real):
        return self.mse(pred, torch.full_like(pred, 1.0 if real else 0.0))

    def __call__(self, A, B):
        fake_B = self.G_A(A); rec_A = self.G_B(fake_B)  # noqa: E702
        fake_A = self.G_B(B); rec_B = self.G_A(fake_A)  # noqa: E702
        for p in list(self.D_A.parameters()) + list(self.D_B.parameters()):
            p.requires_grad_(False)
        self.opt_G.zero_grad()
        loss_G = (self.l1(self.G_A(B), B) * 5 + self.l1(self.G_B(A), A) * 5
                  + self.gan(self.D_A(fake_B), True) + self.gan(self.D_B(fake_A), True)
                  + self.l1(rec_A, A) * 10 + self.l1(rec_B, B) * 10)
        loss_G.backward()
        self.opt_G.step()
        for p in list(self.D_A.parameters()) + list(self.D_B.parameters()):
            p.requires_grad_(True)
        self.opt_D.zero_grad()
        for D, real, fake in ((self.D_A, B, fake_B), (self.D_B, A, fake_A)):
            loss = 0.5 * (self.gan(D(real), True) + self.gan(D(fake.detach()), False))
            loss.backward()
        self.opt_D.step()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="64")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    print("size | ms_per_step (median) | ms_min")
    for size in map(int, args.sizes.split(",")):
        it = Iteration()
        A, B = torch.rand(1, 3, size, size) * 2 - 1, torch.rand(1, 3, size, size) * 2 - 1
        for _ in range(args.warmup):
            it(A, B)
        times = []
        for _ in range(args.steps):
            t = time.perf_counter()
            it(A, B)
            times.append(time.perf_counter() - t)
        print(f"{size} | {statistics.median(times) * 1e3:.0f} | {min(times) * 1e3:.0f}", flush=True)


if __name__ == "__main__":
    main()
